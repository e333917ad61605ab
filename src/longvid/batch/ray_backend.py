"""Batch indexing on Ray: one task per video, on a pool of actors that load the models once.

Design decisions:
- Each worker is a Ray actor holding one offline ``Indexer`` (EfficientNet, OCR, Whisper and
  MiniLM loaded once per worker, not per video) and declaring the resources one indexing job
  uses (``num_cpus`` per worker, GPUs 0: the offline models run on CPU). Ray places actors
  across the cluster; every worker writes to the same cache folder, which on a cluster must be
  a shared file system (the index layout is that of ``longvid index``).
- Fault tolerance is Ray's own: actors restart (``max_restarts``) and a task that was running on
  a dead worker is retried (``max_task_retries``). The retried job resumes from the offline
  indexer's checkpoints, so a killed worker loses at most one checkpoint interval of one video.
  A driver that dies loses nothing either: a rerun skips every finished index and resumes the
  interrupted ones from their checkpoints.
- The driver checks which videos are already indexed before submitting anything, keeps at most
  two jobs per worker in flight (so a long queue is not pinned to one busy actor), and reports
  each outcome as it arrives.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

from longvid.batch.report import BatchReport, VideoOutcome
from longvid.batch.run import OutcomeFn, already_indexed
from longvid.errors import LongvidError, require

logger = logging.getLogger(__name__)


class RayBatchError(LongvidError):
    """Ray could not start or reach the cluster, or a worker kept dying."""


class IndexWorker:
    """The actor body (wrapped with ``ray.remote`` by :class:`RayIndexer`)."""

    def __init__(self, settings, cache_dir) -> None:
        from longvid.offline.indexer import Indexer

        self.indexer = Indexer(settings, cache_dir=cache_dir)
        self.name = f"{os.uname().nodename}:{os.getpid()}"

    def pid(self) -> int:
        return os.getpid()

    def index(self, video: str) -> VideoOutcome:
        from longvid.batch.run import index_outcome

        return index_outcome(self.indexer, video, worker=self.name)


class RayIndexer:
    """A pool of indexing actors on a Ray cluster (or a local Ray started for this process)."""

    def __init__(self, *, workers: int = 2, address: str | None = None, settings=None, cache_dir=None,
                 cpus_per_worker: float = 1.0, max_restarts: int = 2, start_timeout_s: float = 120.0) -> None:
        ray = require("ray", extra="ray")
        from longvid.offline.cache import cache_root
        from longvid.offline.config import IndexSettings

        if workers < 1:
            raise RayBatchError(f"workers={workers}: use at least 1")
        self.ray = ray
        self.settings = settings or IndexSettings()
        self.cache = cache_root(cache_dir)
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         **({} if address else {"num_cpus": max(1, int(workers * cpus_per_worker))}))
            except Exception as exc:  # ConnectionError, RuntimeError... depending on the Ray version
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise RayBatchError(f"could not start or reach {where}: {exc}") from exc
        actor = ray.remote(num_cpus=cpus_per_worker, num_gpus=0, max_restarts=max_restarts,
                           max_task_retries=max_restarts)(IndexWorker)
        self.workers = [actor.remote(self.settings, str(self.cache)) for _ in range(workers)]
        try:  # an actor that cannot be placed would wait forever: say why instead
            ray.get([w.pid.remote() for w in self.workers], timeout=start_timeout_s)
        except ray.exceptions.GetTimeoutError:
            free = ray.available_resources().get("CPU", 0.0)
            self.close()
            raise RayBatchError(
                f"{workers} workers of {cpus_per_worker:g} CPU each did not start within {start_timeout_s:g} s; "
                f"the cluster has {free:g} CPUs free. Use fewer --workers, or free the cluster") from None

    def worker_pids(self) -> list[int]:
        return self.ray.get([w.pid.remote() for w in self.workers])

    def run(self, videos: Sequence[str], *, on_outcome: OutcomeFn | None = None) -> BatchReport:
        from longvid.offline.indexer import Indexer

        ray = self.ray
        t0 = time.perf_counter()
        local = Indexer(self.settings, cache_dir=self.cache)  # manifest reads only, no model
        outcomes: dict[int, VideoOutcome] = {}
        done = 0

        def record(i: int, outcome: VideoOutcome) -> None:
            nonlocal done
            outcomes[i] = outcome
            done += 1
            if on_outcome:
                on_outcome(outcome, done, len(videos))

        queue = []
        for i, v in enumerate(videos):
            skipped = already_indexed(local, v)
            if skipped is not None:
                record(i, skipped)
            else:
                queue.append(i)
        in_flight: dict[object, tuple[int, int]] = {}  # ref -> (video position, worker position)
        load = [0] * len(self.workers)
        while queue or in_flight:
            while queue and min(load) < 2:
                w = load.index(min(load))
                i = queue.pop(0)
                in_flight[self.workers[w].index.remote(videos[i])] = (i, w)
                load[w] += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            i, w = in_flight.pop(ready[0])
            load[w] -= 1
            try:
                outcome = ray.get(ready[0])
            except ray.exceptions.RayActorError as exc:
                outcome = VideoOutcome(videos[i], "failed", error=f"its worker died and was restarted too often: {exc}")
            except ray.exceptions.RayTaskError as exc:
                outcome = VideoOutcome(videos[i], "failed", error=f"indexing raised {exc.cause!r}")
            record(i, outcome)
        return BatchReport(tuple(outcomes[i] for i in range(len(videos))), time.perf_counter() - t0,
                           len(self.workers))

    def close(self) -> None:
        for w in self.workers:
            self.ray.kill(w)
        self.workers = []


def index_on_ray(videos: Sequence[str], *, workers: int = 2, address: str | None = None, settings=None,
                 cache_dir=None, on_outcome: OutcomeFn | None = None) -> BatchReport:
    """Index ``videos`` on Ray with ``workers`` actors; see :class:`RayIndexer`."""
    pool = RayIndexer(workers=workers, address=address, settings=settings, cache_dir=cache_dir)
    try:
        return pool.run(videos, on_outcome=on_outcome)
    finally:
        pool.close()
