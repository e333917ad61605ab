"""The server's videos: one persisted record per video id, with its indexing state.

Design decisions:
- A video's id is ``longvid.offline.hashing.content_hash`` of its bytes, the same key the offline
  index store uses: the same video uploaded twice, or uploaded and also named by a ``file://``
  URL, is one record and one index.
- Records are small JSON files (``<cache>/serve/videos/<id>.json``) written atomically (temp file
  + rename), so a server killed at any moment finds each record either as it was or as it became.
  Progress is written at most every ``PERSIST_EVERY_S``; state changes are written at once.
- Readers never see a half-updated record: records are frozen dataclasses replaced whole under a
  lock, and every change bumps a version number that progress streams wait on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from longvid.offline.cache import atomic_path

logger = logging.getLogger(__name__)

State = Literal["queued", "running", "done", "failed"]
PERSIST_EVERY_S = 1.0  # progress-only changes are written to disk at most this often
# share of the whole indexing job each offline stage stands for (for one overall progress figure)
STAGE_WEIGHTS = {"waiting": 0.0, "visual": 0.65, "speech": 0.25, "embed": 0.10}


@dataclass(frozen=True)
class VideoRecord:
    id: str
    path: str  # where the video's bytes are (the upload store, or an allowed folder for file://)
    name: str  # the name it was uploaded under (display only; never used as a path)
    source: Literal["upload", "file", "data"]  # how the video came: upload, file:// URL, data: URL
    size_bytes: int
    duration_s: float
    state: State = "queued"
    stage: str = ""  # the indexing stage running now ("visual", "speech", "embed", "waiting")
    stage_done: float = 0.0
    stage_total: float = 0.0
    progress: float = 0.0  # 0..1 over the whole job
    error: dict | None = None  # {"message", "type"} when state == "failed"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def public(self) -> dict:
        """What ``GET /v1/videos/{id}`` shows (no server paths)."""
        d = asdict(self)
        d.pop("path")
        d["object"] = "video"
        d["progress"] = round(self.progress, 4)
        return d


def overall_progress(stage: str, done: float, total: float) -> float:
    """One 0..1 figure from the stage now running; stages run in STAGE_WEIGHTS order."""
    names = list(STAGE_WEIGHTS)
    if stage not in STAGE_WEIGHTS:
        return 0.0
    before = sum(STAGE_WEIGHTS[n] for n in names[: names.index(stage)])
    frac = min(1.0, max(0.0, done / total)) if total > 0 else 0.0
    return min(1.0, before + STAGE_WEIGHTS[stage] * frac)


class Library:
    """Thread-safe, persisted ``id -> VideoRecord``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, VideoRecord] = {}
        self._persisted: dict[str, float] = {}
        self._cond = threading.Condition()
        self.version = 0
        for f in sorted(self.root.glob("*.json")):
            try:
                rec = VideoRecord(**json.loads(f.read_text()))
            except (ValueError, TypeError) as exc:  # a record from another version: skip it, say so
                logger.warning("ignoring unreadable video record %s (%s)", f, exc)
                continue
            self._records[rec.id] = rec

    def get(self, video_id: str) -> VideoRecord | None:
        with self._cond:
            return self._records.get(video_id)

    def all(self) -> list[VideoRecord]:
        with self._cond:
            return sorted(self._records.values(), key=lambda r: r.created)

    def put(self, rec: VideoRecord) -> VideoRecord:
        with self._cond:
            self._records[rec.id] = rec
            self._write(rec)
            self._bump()
        return rec

    def update(self, video_id: str, **changes) -> VideoRecord:
        """Replace fields of a record; written to disk now unless only progress moved."""
        with self._cond:
            old = self._records[video_id]
            rec = replace(old, updated=time.time(), **changes)
            self._records[video_id] = rec
            progress_only = rec.state == old.state and rec.stage == old.stage
            if not progress_only or time.monotonic() - self._persisted.get(video_id, 0.0) >= PERSIST_EVERY_S:
                self._write(rec)
            self._bump()
        return rec

    def wait(self, version: int, timeout: float) -> int:
        """Block until the library changes after ``version`` (or ``timeout``); the new version."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != version, timeout)
            return self.version

    def _bump(self) -> None:
        self.version += 1
        self._cond.notify_all()

    def _write(self, rec: VideoRecord) -> None:
        with atomic_path(self.root / f"{rec.id}.json") as tmp:
            tmp.write_text(json.dumps(asdict(rec), indent=1))
        self._persisted[rec.id] = time.monotonic()
