"""``OpenAIEngine``: longvid's sampling and frame selection in front of a video-LLM server.

Registered as ``"openai"``: ``create_engine("openai", base_url=..., model=...)`` or
``longvid ask VIDEO Q --engine openai --base-url URL --model NAME``.

Design decisions:
- The official ``openai`` client does the HTTP (retries, timeouts, streaming); it is the
  ``remote`` extra. Connection and server errors become :class:`RemoteServerError` naming the
  URL and the server's own message.
- ``run`` returns every frame that was sent (with its time), so what the model saw is always
  known; ``ask`` returns the :class:`~longvid.types.Answer`, whose evidence are the sent frames
  the answer cites. ``grounded`` means the answer cites at least one of them: longvid cannot check
  a remote model's reading of a picture, only that it points at frames it was shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

from longvid.engines import check_question, register_engine
from longvid.errors import LongvidError, require
from longvid.remote.config import RemoteConfig
from longvid.remote.frames import SentFrame, frames_in_clip_span, select_frames
from longvid.remote.request import build_messages, cited_frames
from longvid.types import Answer, Evidence, Moment

logger = logging.getLogger(__name__)


class RemoteServerError(LongvidError):
    """The video-LLM server could not be reached, or answered with an error."""


@dataclass(frozen=True)
class RemoteResult:
    answer: Answer
    frames: tuple[SentFrame, ...]  # every frame sent, in time order
    prompt_tokens: int | None  # as the server counted them (None: it did not say)
    completion_tokens: int | None


@register_engine("openai")
class OpenAIEngine:
    """Answers questions about a video with a model served behind an OpenAI-compatible API."""

    name = "openai"

    def __init__(self, config: RemoteConfig | None = None, *, progress: Callable | None = None, **options) -> None:
        known = {f.name for f in fields(RemoteConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown openai engine option(s) {unknown}; known: {sorted(known)}")
        if config is not None and options:
            raise TypeError("give either config= or keyword options, not both")
        self.config = config or RemoteConfig(**options)
        self.progress = progress
        openai = require("openai", extra="remote")
        self._client = openai.OpenAI(base_url=self.config.base_url, api_key=self.config.resolved_api_key(),
                                     timeout=self.config.timeout_s, max_retries=1)
        self._openai = openai

    def run(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None) -> RemoteResult:
        from longvid.io.probe import probe

        question = check_question(question)
        cfg = self.config
        t0 = time.perf_counter()
        info = probe(video)
        visual = None if self.progress is None else (lambda done, total: self.progress("visual", done, total))
        frames = select_frames(video, cfg, info=info, progress=visual)
        messages = build_messages(frames, question, duration_s=info.duration_s, content=cfg.content,
                                  clip_frame_s=cfg.clip_frame_s)
        t1 = time.perf_counter()
        text, usage, reported = self._complete(messages, on_text)
        t2 = time.perf_counter()
        cited = cited_frames(text, frames)
        if cfg.content == "video_url" and reported:  # moments on the clip's clock (longvid serve)
            shown = [f for a, b in reported for f in frames_in_clip_span(frames, a, b, frame_s=cfg.clip_frame_s)]
            cited = sorted({f.index: f for f in shown}.values(), key=lambda f: f.time_s) or cited
        evidence = tuple(Evidence(Moment(f.time_s, f.time_s, video=str(video)),
                                  extra={"frame_index": f.index, "size": [f.width, f.height]}) for f in cited)
        answer = Answer(question, text.strip(), evidence, bool(cited), self.name,
                        {"frames_s": round(t1 - t0, 3), "server_s": round(t2 - t1, 3)})
        return RemoteResult(answer, frames, *(usage or (None, None)))

    def ask(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None) -> Answer:
        return self.run(video, question, on_text=on_text).answer

    def _complete(self, messages: list[dict], on_text) -> tuple[str, tuple[int, int] | None, list[tuple[float, float]]]:
        """The answer's text, the server's token counts, and the moments (start times) a server
        reports as structured data beside the text (``longvid serve``'s ``longvid`` field)."""
        cfg, oa = self.config, self._openai
        try:
            if on_text is None:
                r = self._client.chat.completions.create(model=cfg.model, messages=messages,
                                                         max_tokens=cfg.max_tokens, temperature=cfg.temperature)
                usage = (r.usage.prompt_tokens, r.usage.completion_tokens) if r.usage else None
                return r.choices[0].message.content or "", usage, _reported_moments(r)
            pieces: list[str] = []
            reported: list[tuple[float, float]] = []
            stream = self._client.chat.completions.create(model=cfg.model, messages=messages, stream=True,
                                                          max_tokens=cfg.max_tokens, temperature=cfg.temperature)
            for chunk in stream:
                reported = reported or _reported_moments(chunk)
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                    on_text(pieces[-1])
            return "".join(pieces), None, reported
        except oa.APIConnectionError as exc:
            raise RemoteServerError(f"could not reach the server at {cfg.base_url}: {exc}. Is it running? "
                                    "Check --base-url (it ends in /v1)") from exc
        except oa.APIStatusError as exc:
            raise RemoteServerError(f"the server at {cfg.base_url} answered {exc.status_code}: "
                                    f"{_server_message(exc)}") from exc


def _reported_moments(response) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of the moments under a response's ``longvid`` extra field, if any."""
    extra = (getattr(response, "model_extra", None) or {}).get("longvid")
    if not isinstance(extra, dict):
        return []
    return [(float(m["start_s"]), float(m.get("end_s", m["start_s"])))
            for m in extra.get("moments", []) if isinstance(m, dict) and "start_s" in m]


def _server_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        return str(body)[:500]
    return str(exc)
