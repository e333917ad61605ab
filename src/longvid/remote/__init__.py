"""longvid in front of any OpenAI-compatible video-LLM server (vLLM, SGLang, ``longvid serve``).

longvid samples the video with exact timestamps, chooses the frames to send with its own
compression (LongVU's windowed temporal rule on cheap thumbnails, then the server's frame limit),
sends them as OpenAI chat content parts, and returns the server's answer with the moments it
cites. Engine name: ``"openai"``; see :class:`~longvid.remote.engine.OpenAIEngine`.
"""

from longvid.remote.config import RemoteConfig
from longvid.remote.frames import SentFrame, select_frames

__all__ = ["RemoteConfig", "SentFrame", "select_frames"]
