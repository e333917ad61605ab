"""The OpenAI chat-completions format: request schema, content parts, responses and chunks.

Design decisions:
- Content parts follow OpenAI / vLLM: ``{"type": "text", "text": ...}`` and
  ``{"type": "video_url", "video_url": {"url": ...}}`` with ``file:///...`` (under ``--allow-dir``),
  ``longvid://<video id>`` (an uploaded video) or a ``data:video/...;base64,...`` URL (the video
  itself, as vLLM clients send it; stored like an upload, with the same limits). A request names exactly one video; the
  question is the last text part of the last user message, less a leading ``Question:`` label
  (engines answer one question about one video; earlier turns and earlier text parts are not
  context for them). Sampling options (``temperature``, ``top_p``, ...) are
  accepted and ignored (the engines decode greedily); ``n`` other than 1 is refused.
- Answers carry the cited moments under an extra ``longvid`` key (the ``openai`` client keeps
  unknown fields and ignores them): per moment its span, label, score, transcript, on-screen text,
  tags and keyframe URL, plus whether the answer is grounded in the evidence.
- Streams are OpenAI chunks: one with the role, content chunks, a last one with
  ``finish_reason`` (and the ``longvid`` key), a usage chunk when ``stream_options.include_usage``
  asks for it, then ``data: [DONE]``. An error after the stream began is sent as an
  ``{"error": ...}`` event, which the ``openai`` client raises.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from longvid.serve.apierrors import ApiError
from longvid.types import Answer, Evidence

LONGVID_SCHEME = "longvid://"


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # sampling options: accepted, ignored (see docstring)
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: dict | None = None
    n: int = 1


@dataclass(frozen=True)
class Question:
    text: str
    video_url: str


_QUESTION_LABEL = re.compile(r"^\s*question\s*:\s*", re.IGNORECASE)

def parse_request(req: ChatRequest) -> Question:
    if req.n != 1:
        raise ApiError(400, f"n={req.n}: this server gives one answer per request (n=1)", "unsupported", "n")
    videos: list[str] = []
    last_user_text = None
    for i, msg in enumerate(req.messages):
        if msg.role != "user":
            continue
        texts: list[str] = []
        parts = [{"type": "text", "text": msg.content}] if isinstance(msg.content, str) else msg.content or []
        for j, part in enumerate(parts):
            where = f"messages.{i}.content.{j}"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    raise ApiError(400, f"{where}: a text part needs a 'text' string", "invalid_content", where)
                texts.append(part["text"])
            elif kind == "video_url":
                ref = part.get("video_url")
                url = ref.get("url") if isinstance(ref, dict) else ref
                if not isinstance(url, str) or not url:
                    raise ApiError(400, f"{where}: a video_url part needs {{\"video_url\": {{\"url\": ...}}}}",
                                   "invalid_content", where)
                videos.append(url)
            elif kind in ("image_url", "input_image", "input_audio", "audio_url", "file"):
                raise ApiError(400, f"{where}: {kind} parts are not supported; send the video itself as a "
                               "video_url part (file:///... or longvid://<video id>)", "unsupported_content", where)
            else:
                raise ApiError(400, f"{where}: unknown content part type {kind!r} (use 'text' and 'video_url')",
                               "invalid_content", where)
        # the question is the last text part; parts before it (an introduction, the frames' times
        # as a client like longvid's openai engine sends them) are context the engines do not read
        last_user_text = _QUESTION_LABEL.sub("", texts[-1]).strip() if texts else ""
    if not videos:
        raise ApiError(400, "no video in the request: add a content part "
                       "{\"type\": \"video_url\", \"video_url\": {\"url\": \"longvid://<video id>\"}}",
                       "missing_video", "messages")
    if len(videos) > 1:
        raise ApiError(400, f"{len(videos)} videos in one request: ask about one video at a time",
                       "too_many_videos", "messages")
    if last_user_text is None:
        raise ApiError(400, "no user message: the question is the last user message's text", "missing_question",
                       "messages")
    return Question(last_user_text, videos[0])


def check_video_url(url: str) -> Literal["file", "longvid", "data"]:
    if url.startswith(LONGVID_SCHEME):
        return "longvid"
    if url.startswith("file:"):
        return "file"
    if url.startswith("data:"):
        return "data"
    scheme = url.split(":", 1)[0] if ":" in url else ""
    raise ApiError(400, f"unsupported video URL {url[:100]!r}{f' (scheme {scheme!r})' if scheme else ''}: use "
                   "file:///path/to/video (under --allow-dir), longvid://<video id> from POST /v1/videos, "
                   "or data:video/mp4;base64,...", "invalid_url", "video_url")


def decode_data_url(url: str, max_bytes: int) -> bytes:
    """The bytes of a ``data:video/...;base64,...`` URL, refused before decoding when too large."""
    import base64
    import binascii

    head, sep, payload = url.partition(",")
    media = head[len("data:"):]
    if not sep or not media.endswith(";base64") or not media.startswith("video/"):
        raise ApiError(400, f"a data URL video must be data:video/<type>;base64,<data>, got {head[:60]!r}",
                       "invalid_url", "video_url")
    if len(payload) * 3 // 4 > max_bytes:
        raise ApiError(413, f"the video in the data URL is larger than this server's limit of {max_bytes} bytes "
                       "(--max-upload-mb)", "upload_too_large", "video_url")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, f"the data URL's base64 payload does not decode ({exc})", "invalid_url",
                       "video_url") from exc


# ----------------------------------------------------------------------------- responses
def moment_json(ev: Evidence, keyframe_url: str | None) -> dict:
    m = ev.moment
    return {"start_s": m.start_s, "end_s": m.end_s, "label": m.label(), "score": m.score,
            "transcript": ev.transcript, "on_screen_text": ev.on_screen_text, "tags": list(ev.tags),
            "keyframe_url": keyframe_url, "lines": list(ev.extra.get("lines", ()))}


def longvid_extra(answer: Answer, video_id: str, keyframe_urls: list[str | None], usage_unit: str) -> dict:
    return {"video_id": video_id, "grounded": answer.grounded, "engine": answer.engine,
            "moments": [moment_json(e, u) for e, u in zip(answer.evidence, keyframe_urls)],
            "timings_s": answer.timings_s, "usage_unit": usage_unit}


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def completion(cid: str, model: str, answer: Answer, usage: dict, extra: dict) -> dict:
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": usage, "longvid": extra}


def chunk(cid: str, model: str, created: int, delta: dict, finish_reason: str | None = None, **more) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}], **more}


def usage_chunk(cid: str, model: str, created: int, usage: dict) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage}


def sse(data: dict | str, event: str | None = None) -> str:
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "") + f"data: {body}\n\n"
