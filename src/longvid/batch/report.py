"""Typed outcomes of a batch of indexing jobs, and the summary table printed at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

Status = Literal["indexed", "skipped", "failed"]


@dataclass(frozen=True)
class VideoOutcome:
    """What happened to one video of a batch."""

    video: str
    status: Status  # indexed now, skipped (an index already existed), or failed
    index_folder: str | None = None
    segments: int | None = None
    duration_s: float | None = None  # the video's length
    seconds: float = 0.0  # wall time spent on it (0 when skipped)
    error: str | None = None  # the clear message of the error that stopped it
    worker: str | None = None  # which worker ran it ("local", or a Ray worker's node and pid)


@dataclass(frozen=True)
class BatchReport:
    outcomes: tuple[VideoOutcome, ...]
    wall_s: float
    workers: int

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> tuple[VideoOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "failed")

    def videos_per_minute(self) -> float:
        done = self.count("indexed")
        return 60.0 * done / self.wall_s if self.wall_s > 0 else 0.0

    def table(self) -> str:
        """A fixed-width summary: one row per video, then the totals."""
        width = min(60, max([len(o.video) for o in self.outcomes] + [5]))
        lines = [f"{'video':<{width}}  {'status':<8} {'segments':>8} {'seconds':>8}  note"]
        for o in self.outcomes:
            name = o.video if len(o.video) <= width else "..." + o.video[-(width - 3):]
            seg = "" if o.segments is None else str(o.segments)
            lines.append(f"{name:<{width}}  {o.status:<8} {seg:>8} {o.seconds:>8.1f}  {o.error or ''}")
        c = Counter(o.status for o in self.outcomes)
        lines.append(f"{len(self.outcomes)} videos: {c['indexed']} indexed, {c['skipped']} skipped, "
                     f"{c['failed']} failed; {self.wall_s:.1f} s with {self.workers} worker(s)")
        return "\n".join(lines)
