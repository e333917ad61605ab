"""``OfflineEngine``: the default engine, registered as "offline" in ``longvid.engines.ENGINES``.

Design decisions:
- ``ask(video, question)`` indexes the video on first use (or finds its index), retrieves the
  evidence (``search``) and has the LLM answer from it; ``search(video, query, k)`` is the same
  without the LLM. Loaded indexes and models stay in the engine, so one engine answers many
  questions about many videos quickly (load the LLM once: ~2 s from the safetensors cache).
- The LLM is only loaded when a question is asked; indexing and search never load it.
- ``choose(video, question, options)`` answers a multiple-choice question with one option letter
  (or says none is supported; ``longvid.offline.choices``); ``ask(..., max_new_tokens=N)`` caps
  one answer's length (an evaluation task's generation setting) without a new engine.
"""

from __future__ import annotations

import logging
import os
import time

from longvid.engines import ENGINES, check_question
from longvid.offline.config import OfflineConfig
from longvid.offline.indexer import Indexer, ProgressFn
from longvid.offline.store import VideoIndex
from longvid.types import Answer, Evidence

logger = logging.getLogger(__name__)


@ENGINES.register("offline")
class OfflineEngine:
    name = "offline"

    def __init__(
        self,
        *,
        config: OfflineConfig | None = None,
        cache_dir: str | os.PathLike | None = None,
        models_dir: str | os.PathLike | None = None,
        progress: ProgressFn | None = None,
        rebuild: bool = False,
    ) -> None:
        """``cache_dir``: indexes and converted models; ``models_dir``: converted models only, when
        they should live elsewhere (shared by several index caches, e.g. in tests)."""
        self.config = config = config or OfflineConfig()
        self.models_dir = models_dir
        self.indexer = Indexer(config.index, cache_dir=cache_dir, progress=progress)
        self.rebuild = rebuild
        self._indexes: dict[str, VideoIndex] = {}
        self._answerer = None

    # ------------------------------------------------------------------ indexing
    def index(self, video: str | os.PathLike, *, rebuild: bool | None = None) -> VideoIndex:
        from longvid.io.probe import check_path

        check_path(video)  # a typed error for a missing file or a pipe before anything reads it
        key = str(self.indexer.folder_for(video))  # content, settings and sidecar subtitles
        if key not in self._indexes:
            self._indexes[key] = self.indexer.index(video, rebuild=self.rebuild if rebuild is None else rebuild)
        return self._indexes[key]

    # ------------------------------------------------------------------ query
    def search(self, video: str | os.PathLike, query: str, k: int | None = None) -> list[Evidence]:
        from longvid.offline.indexer import embed_query
        from longvid.offline.retrieval import hybrid_search

        query = check_question(query)
        idx = self.index(video)
        k = k or self.config.query.top_k
        return hybrid_search(idx, query, embed_query(self.indexer, query), k, self.config.query,
                             embedder=self.indexer.model("embedder"))

    def answerer(self):
        """The answerer; its LLM loads on the first question extraction cannot answer alone, so a
        question answered by extraction (most, and every one in a fresh process that needs no
        draft) never pays for loading it."""
        if self._answerer is None:
            from longvid.offline.answer import LLMAnswerer
            from longvid.offline.llm import load_llm

            q = self.config.query
            self._answerer = LLMAnswerer(
                None, None, max_new_tokens=q.llm.max_new_tokens, context_tokens=q.context_tokens,
                grounded_fraction=q.grounded_word_fraction,
                loader=lambda: load_llm(q.llm, self.models_dir or self.indexer.cache),
            )
        return self._answerer

    def _prepare(self, video, query: str) -> tuple[list[Evidence], object, dict[str, float]]:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        self.index(video)
        timings["index_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        evidence = self.search(video, query)
        timings["retrieve_s"] = time.perf_counter() - t0
        return evidence, self.answerer(), timings

    def ask(self, video: str | os.PathLike, question: str, *, max_new_tokens: int | None = None) -> Answer:
        question = check_question(question)
        evidence, answerer, timings = self._prepare(video, question)
        drafted = answerer.answer(question, evidence, max_new_tokens)
        timings.update(drafted.timings_s)
        return Answer(question, drafted.text, drafted.cited, drafted.grounded, self.name,
                      {k: round(v, 3) for k, v in timings.items()})

    def choose(self, video: str | os.PathLike, question: str, options) -> Answer:
        """One of ``options`` (``choices.Option``, or texts lettered A, B, ...) as its letter, or
        ``choices.NONE_SUPPORTED``; ``grounded`` says whether an option was supported."""
        from longvid.offline.choices import Option, choose

        question = check_question(question)
        options = [o if isinstance(o, Option) else Option(chr(ord("A") + i), str(o)) for i, o in enumerate(options)]
        # retrieve for the question and the options' words together: the evidence for an option
        # ("4172") need not share words with the question ("which code is shown?")
        query = " ".join([question, *(o.text for o in options)])
        evidence, answerer, timings = self._prepare(video, query)
        t0 = time.perf_counter()
        picked = choose(question, options, evidence, answerer)
        timings["choose_s"] = time.perf_counter() - t0
        return Answer(question, picked.text, picked.cited, picked.letter is not None, self.name,
                      {k: round(v, 3) for k, v in timings.items()})

    def close(self) -> None:
        for idx in self._indexes.values():
            idx.close()
        self._indexes.clear()
