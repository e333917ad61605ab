"""The chat request sent to an OpenAI-compatible server, and the moments read back from its answer.

Design decisions:
- Content parts are exactly the shapes vLLM and SGLang document for the OpenAI chat API:
  ``{"type": "text", "text": ...}``, ``{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,..."}}``
  and ``{"type": "video_url", "video_url": {"url": "data:video/mp4;base64,..."}}``. Nothing
  server-specific is sent, so any such server (and ``longvid serve``) can take it.
- Every frame's time travels as text next to it (``[12:31]`` before each image, or the list of
  times for a video part): the model sees when each frame is from, and is asked to cite those
  times. The answer's ``[m:ss]`` citations are mapped back to the frames that were sent, so an
  answer's moments are always moments longvid actually showed the model.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from longvid.remote.frames import SentFrame, frames_to_mp4
from longvid.types import cited_times, format_timestamp

SYSTEM_PROMPT = (
    "You answer questions about a video from frames sampled from it. Each frame is labelled with its "
    "time in the video as [m:ss]. Answer in one or two sentences and cite the times of the frames your "
    "answer rests on, like [1:05]. If the frames do not show the answer, say so."
)


def build_messages(frames: Sequence[SentFrame], question: str, *, duration_s: float,
                   content: str = "image_url", clip_frame_s: float = 1.0) -> list[dict]:
    """The ``messages`` of a chat completion request asking ``question`` about ``frames``."""
    intro = f"The video is {format_timestamp(duration_s)} long. {len(frames)} frames follow, in time order."
    parts: list[dict] = [{"type": "text", "text": intro}]
    if content == "video_url":
        mp4 = base64.b64encode(frames_to_mp4(frames, frame_s=clip_frame_s)).decode("ascii")
        times = ", ".join(f.label() for f in frames)
        parts.append({"type": "text", "text": f"The clip's frames are from these times, in order: {times}."})
        parts.append({"type": "video_url", "video_url": {"url": "data:video/mp4;base64," + mp4}})
    else:
        for f in frames:
            parts.append({"type": "text", "text": f.label()})
            parts.append({"type": "image_url", "image_url": {"url": f.data_url()}})
    parts.append({"type": "text", "text": f"Question: {question}"})
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": parts}]


def cited_frames(text: str, frames: Sequence[SentFrame]) -> list[SentFrame]:
    """The sent frames whose labels the answer cites (each cited time -> the nearest sent frame
    within one second, as labels are rounded to whole seconds), in time order, once each."""
    hits: dict[int, SentFrame] = {}
    for t in cited_times(text):
        best = min(frames, key=lambda f: abs(f.time_s - t), default=None)
        if best is not None and abs(best.time_s - t) <= 1.0:
            hits[best.index] = best
    return sorted(hits.values(), key=lambda f: f.time_s)
