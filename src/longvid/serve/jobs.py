"""Indexing jobs: a bounded queue served by a fixed number of worker threads.

Design decisions:
- Threads, not processes: the heavy parts of indexing (PyAV decoding, ONNX OCR, torch encoders,
  CTranslate2 speech) release the GIL, so threads use the cores; progress callbacks update the
  shared ``Library`` directly, with no IPC; and each worker keeps its stage models loaded between
  jobs. A crash in native code would take the server down with it, which restart safety covers.
  Workers are daemon threads so stopping the server never waits for a job: an interrupted job
  is resumed from the indexer's checkpoints at the next start.
- Each worker owns its indexer state (its own ``Indexer`` with its own models); the question
  engine is never used by a worker, so indexing never waits on questions or the other way round.
- ``submit`` is idempotent: a video already queued, running or indexed is not queued again (the
  same video uploaded twice is indexed once). The queue is bounded (``max_queued_jobs``); past it
  a new job is refused with 503 instead of piling up.
- Two server processes on one cache: the job for a video holds an exclusive ``flock`` on
  ``<jobs>/<id>.lock`` while it indexes; the other process's worker waits on it (stage
  "waiting"), then finds the finished index and does not rebuild it.
- At start, ``resume()`` requeues every record left ``queued`` or ``running``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from longvid.errors import LongvidError
from longvid.serve.apierrors import ApiError
from longvid.serve.library import Library, overall_progress

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str, float, float], None]


class IndexBackend(Protocol):
    """What the queue needs from an engine family that keeps an index."""

    def index(self, path: str, progress: ProgressFn) -> None: ...

    def open(self, path: str):  # the loaded index, or None when there is none yet
        ...


class OfflineIndexing:
    """The offline engine's ``Indexer``, one per worker thread (models loaded once per worker)."""

    def __init__(self, settings, cache_dir: str | None) -> None:
        self.settings = settings  # longvid.offline.config.IndexSettings: the question engine's own
        self.cache_dir = cache_dir
        self._local = threading.local()
        self._opened: dict[str, object] = {}
        self._open_lock = threading.Lock()

    def index(self, path: str, progress: ProgressFn) -> None:
        from longvid.offline.indexer import Indexer

        if not hasattr(self._local, "models"):
            self._local.models = {}
        Indexer(self.settings, cache_dir=self.cache_dir, progress=progress, models=self._local.models).index(path)

    def open(self, path: str):
        """The verified index of ``path`` (kept open; read-only use), or None."""
        from longvid.offline.indexer import Indexer

        with self._open_lock:
            if path not in self._opened:
                found = Indexer(self.settings, cache_dir=self.cache_dir).find(path)
                if found is None:
                    return None
                self._opened[path] = found
            return self._opened[path]


class EngineIndexing:
    """Any registered engine with ``index(video)``: a fresh engine per job, built with ``progress``."""

    def __init__(self, factory: Callable[..., object]) -> None:
        self.factory = factory

    def index(self, path: str, progress: ProgressFn) -> None:
        self.factory(progress=progress).index(path)

    def open(self, path: str):
        return None


@contextlib.contextmanager
def job_lock(path: Path, on_wait: Callable[[], None]) -> Iterator[None]:
    """An exclusive lock shared with other processes on this cache; ``on_wait`` if it is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class IndexQueue:
    def __init__(self, library: Library, backend: IndexBackend, *, workers: int, max_queued: int,
                 lock_dir: Path) -> None:
        self.library = library
        self.backend = backend
        self.max_queued = max_queued
        self.lock_dir = Path(lock_dir)
        self._queue: queue.Queue[str] = queue.Queue()
        self._active: set[str] = set()  # ids queued or running in this process
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._worker, name=f"longvid-index-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, video_id: str) -> None:
        """Queue the video's indexing unless it is queued, running or done already."""
        with self._lock:
            rec = self.library.get(video_id)
            if rec is None or video_id in self._active or rec.state == "done":
                return
            if len(self._active) >= self.max_queued:
                raise ApiError(503, f"{len(self._active)} indexing jobs are waiting already: try again later",
                               "queue_full")
            self._active.add(video_id)
            self.library.update(video_id, state="queued", stage="", stage_done=0.0, stage_total=0.0,
                                progress=0.0, error=None)
            self._queue.put(video_id)

    def resume(self) -> int:
        """Requeue the jobs a previous server left unfinished; how many."""
        n = 0
        for rec in self.library.all():
            if rec.state in ("queued", "running"):
                if not Path(rec.path).is_file():
                    self.library.update(rec.id, state="failed", error={
                        "message": "the video's file is gone; upload it again", "type": "VideoNotFoundError"})
                    continue
                logger.info("resuming the indexing of %s (%s)", rec.id, rec.name)
                self.submit(rec.id)
                n += 1
        return n

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def _worker(self) -> None:
        while True:
            video_id = self._queue.get()
            try:
                self._run(video_id)
            finally:
                with self._lock:
                    self._active.discard(video_id)

    def _run(self, video_id: str) -> None:
        lib = self.library
        rec = lib.get(video_id)

        def progress(stage: str, done: float, total: float) -> None:
            lib.update(video_id, stage=stage, stage_done=float(done), stage_total=float(total),
                       progress=overall_progress(stage, done, total))

        try:
            with job_lock(self.lock_dir / f"{video_id}.lock",
                          on_wait=lambda: lib.update(video_id, state="running", stage="waiting")):
                lib.update(video_id, state="running", stage="visual", stage_done=0.0, stage_total=0.0)
                self.backend.index(rec.path, progress)
            lib.update(video_id, state="done", stage="", progress=1.0)
            logger.info("indexed %s (%s)", video_id, rec.name)
        except LongvidError as exc:
            logger.warning("indexing %s failed: %s", video_id, exc)
            lib.update(video_id, state="failed", error={"message": str(exc), "type": type(exc).__name__})
        except Exception as exc:  # a bug or a broken model: the job fails, the server stays up
            logger.exception("indexing %s failed", video_id)
            lib.update(video_id, state="failed", error={
                "message": f"internal error while indexing ({type(exc).__name__}: {exc})", "type": "InternalError"})
