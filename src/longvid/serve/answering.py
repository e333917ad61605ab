"""The question engine: built once from the settings, asked one question at a time.

Design decisions:
- Engine objects are not thread-safe, so each has one lock, and questions run on one dedicated
  thread per engine: they are answered in arrival order (FIFO), and a question whose client went
  away before its turn is dropped without running. Indexing never takes this lock (jobs use
  their own indexers, see ``longvid.serve.jobs``).
- An engine whose ``ask`` accepts ``on_text`` (the video-LLM engines) streams its tokens as they
  are generated; any other engine's answer is sent when it is complete. Nothing is ever split
  into timed pieces to look like a stream.
- ``usage`` is counted with the engine's own tokenizer when it exposes one (the offline engine's
  answering LLM, a video-LLM's tokenizer); otherwise in whitespace-separated words, and the
  response says which. ``prompt_tokens`` counts the question, not the evidence or visual tokens
  the engine adds inside.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from longvid.serve.jobs import EngineIndexing, IndexBackend, OfflineIndexing
from longvid.serve.settings import ServeSettings
from longvid.types import Answer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    unit: str  # "tokens" (the engine's tokenizer) or "words"

    def as_dict(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


@dataclass(frozen=True)
class Reply:
    answer: Answer
    usage: Usage


def tokenizer_of(engine):
    """The engine's own tokenizer, when it has one. Called only after the engine answered, so the
    offline engine's ``answerer()`` returns the LLM it already loaded."""
    if callable(getattr(engine, "answerer", None)):
        return getattr(engine.answerer(), "tokenizer", None)
    return getattr(getattr(engine, "model", None), "tokenizer", None)


class QuestionEngine:
    def __init__(self, engine) -> None:
        self.engine = engine
        self.name = getattr(engine, "name", type(engine).__name__)
        self.lock = threading.Lock()
        self.streams_tokens = "on_text" in inspect.signature(engine.ask).parameters
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="longvid-ask")

    def submit(self, path: str, question: str, on_text: Callable[[str], None] | None = None
               ) -> concurrent.futures.Future[Reply]:
        return self._thread.submit(self._ask, path, question, on_text)

    def _ask(self, path: str, question: str, on_text) -> Reply:
        with self.lock:
            if self.streams_tokens and on_text is not None:
                answer = self.engine.ask(path, question, on_text=on_text)
            else:
                answer = self.engine.ask(path, question)
            return Reply(answer, self._usage(question, answer.text))

    def _usage(self, question: str, text: str) -> Usage:
        tok = tokenizer_of(self.engine)
        if tok is not None:
            try:
                return Usage(len(tok(question)["input_ids"]), len(tok(text)["input_ids"]), "tokens")
            except Exception:  # a tokenizer with another calling convention: fall back to words
                logger.debug("tokenizer of %s could not count; counting words", self.name, exc_info=True)
        return Usage(len(question.split()), len(text.split()), "words")

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.engine, "close", None)
        if callable(close):
            with self.lock:
                close()


def build(settings: ServeSettings) -> tuple[QuestionEngine, IndexBackend | None]:
    """The question engine and, for engines that keep an index, how jobs build it."""
    from longvid.errors import require

    if settings.model is not None:
        require("transformers", extra="models")
        from longvid.models.engine import load_engine

        device = settings.device
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        return QuestionEngine(load_engine(settings.model, device=device, **settings.extra)), None

    from longvid.engines import create_engine

    name = settings.engine_name
    if name == "offline":
        require("transformers", extra="offline")
        engine = create_engine("offline", cache_dir=settings.cache_dir, models_dir=settings.models_dir,
                               **settings.extra)
        return QuestionEngine(engine), OfflineIndexing(engine.config.index, settings.cache_dir)

    from longvid.engines import list_engines
    from longvid.serve.settings import ServeConfigError

    if name not in list_engines():
        raise ServeConfigError(f"--engine {name!r} is not a registered engine; known: {', '.join(list_engines())}")

    def factory(**kw):
        return create_engine(name, **settings.extra, **kw)

    engine = factory()
    backend = EngineIndexing(factory) if callable(getattr(engine, "index", None)) else None
    return QuestionEngine(engine), backend
