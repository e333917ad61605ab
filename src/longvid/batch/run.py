"""One video's indexing job as a typed outcome, and the in-process batch runner.

Design decisions:
- ``index_outcome`` is the unit of work every backend runs (in this process or in a Ray worker):
  it never raises for a bad video; longvid's own errors become a ``failed`` outcome carrying the
  message. Anything else (a bug, out of memory) propagates, so it is not mistaken for bad input.
- "Already indexed" is decided with ``Indexer.find``, which reads the manifest and loads no
  model, so a rerun over a finished batch costs one small read per video.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from longvid.batch.report import BatchReport, VideoOutcome
from longvid.errors import LongvidError

logger = logging.getLogger(__name__)

OutcomeFn = Callable[[VideoOutcome, int, int], None]  # (outcome, done so far, total)


def already_indexed(indexer, video: str) -> VideoOutcome | None:
    """A ``skipped`` outcome when ``video`` has a verified index for the indexer's settings."""
    try:
        found = indexer.find(video)
    except (LongvidError, OSError):
        return None  # unreadable or unverifiable here: the job itself reports why
    if found is None:
        return None
    m = found.manifest
    found.close()
    return VideoOutcome(video, "skipped", str(found.folder), m.get("num_segments"), m.get("duration_s"))


def index_outcome(indexer, video: str, *, worker: str = "local") -> VideoOutcome:
    """Index ``video`` with ``indexer`` (an offline ``Indexer``) and say what happened."""
    t0 = time.perf_counter()
    try:
        idx = indexer.index(video)
    except LongvidError as exc:
        logger.warning("%s: %s", video, exc)
        return VideoOutcome(video, "failed", seconds=time.perf_counter() - t0, error=str(exc), worker=worker)
    m = idx.manifest
    idx.close()
    return VideoOutcome(video, "indexed", str(idx.folder), m.get("num_segments"), m.get("duration_s"),
                        time.perf_counter() - t0, worker=worker)


def index_locally(videos: Sequence[str], *, settings=None, cache_dir=None, progress=None,
                  on_outcome: OutcomeFn | None = None) -> BatchReport:
    """Index ``videos`` one after another in this process (models loaded once)."""
    from longvid.offline.indexer import Indexer

    t0 = time.perf_counter()
    indexer = Indexer(settings, cache_dir=cache_dir, progress=progress)
    outcomes = []
    for n, video in enumerate(videos, 1):
        outcome = already_indexed(indexer, video) or index_outcome(indexer, video)
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome, n, len(videos))
    return BatchReport(tuple(outcomes), time.perf_counter() - t0, 1)
