"""Video-XL-style window-wise summarization: the plan a model engine follows, and a training-free variant.

Design decisions:
- ``plan_windows`` describes Video-XL's layout over a visual token sequence: windows of 1440
  tokens (10 frames of 144); inside a window, one summary slot follows every ``r`` raw tokens
  (a shorter last group gets one too), so a window keeps ``ceil(len / r)`` key/value entries.
  The ``WindowPlan`` is pure data (tensors of positions and spans): the model engine inserts its
  trained summary tokens at ``summary_slots`` of the interleaved sequence, runs each window, and
  keeps only those slots' KV. Each summary's provenance is the last raw token of its span.
- ``videoxl_window`` is the training-free analogue for any model: per window keep ``ceil(len/r)``
  raw tokens, either the last of each group of r (where the summary would sit, ``select="stride"``)
  or the most query-relevant ones kept in time order (``select="query"``). It is not Video-XL's
  method (no trained summaries), only its budget shape.
- Fitting a budget: the configured ratio first, then the next larger allowed ratio (up to 16),
  then uniform frame subsampling; each step is written in the stage note. The count is exact.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

import torch

from longvid.compress.base import (
    Compressor,
    Grid,
    Query,
    TokenCount,
    assemble,
    ceil_div,
    query_vector,
    register_compressor,
    subset,
    uniform_positions,
)
from longvid.errors import BudgetError, InvalidFeaturesError
from longvid.types import FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)

RATIOS = (2, 4, 8, 16)  # Video-XL: trained compression ratios (demo 8, needle test 16)


@dataclass(frozen=True)
class VideoXLConfig:
    window_tokens: int = 1440  # Video-XL: visual tokens are processed in windows of 1440 (10 frames x 144)
    ratio: int = 8  # Video-XL demo: one summary per 8 raw tokens (the needle test uses 16)

    def __post_init__(self) -> None:
        if self.ratio not in RATIOS:
            raise InvalidFeaturesError(f"ratio must be one of {RATIOS}, got {self.ratio}")
        if self.window_tokens < 1:
            raise InvalidFeaturesError(f"window_tokens must be >= 1, got {self.window_tokens}")


@dataclass(frozen=True)
class WindowPlan:
    """Windows over ``num_tokens`` raw visual tokens and the summary slots of each."""

    num_tokens: int
    window_tokens: int
    ratio: int
    window_starts: torch.Tensor  # (W,) int64 raw position where each window starts
    window_ends: torch.Tensor  # (W,) int64 exclusive end
    summary_starts: torch.Tensor  # (S,) int64 first raw position summarised by each summary slot
    summary_ends: torch.Tensor  # (S,) int64 exclusive end: the slot sits right after raw token end-1
    summary_windows: torch.Tensor  # (S,) int64 window of each slot

    @property
    def num_windows(self) -> int:
        return int(self.window_starts.numel())

    @property
    def num_summaries(self) -> int:
        """Key/value entries kept for the whole video after every window ran."""
        return int(self.summary_ends.numel())

    def interleaved_positions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions in the sequence with summary slots inserted: (raw (num_tokens,), slots (S,))."""
        raw = torch.arange(self.num_tokens)
        # every slot before a raw token shifts it right by one
        raw_pos = raw + torch.searchsorted(self.summary_ends, raw, right=True)
        slot_pos = self.summary_ends + torch.arange(self.num_summaries)
        return raw_pos, slot_pos

    def summary_sources(self) -> torch.Tensor:
        """(S,) raw position whose provenance (frame, time) a summary slot inherits: its span's last."""
        return self.summary_ends - 1

    def summary_provenance(self, tokens: VisualTokens) -> tuple[torch.Tensor, torch.Tensor]:
        """(frame indices, timestamps) of the summary slots, for the raw ``tokens`` this plan covers."""
        if len(tokens) != self.num_tokens:
            raise InvalidFeaturesError(f"plan covers {self.num_tokens} tokens, got {len(tokens)}")
        src = self.summary_sources()
        return tokens.frame_indices[src], tokens.timestamps_s[src]


def plan_windows(num_tokens: int, config: VideoXLConfig = VideoXLConfig()) -> WindowPlan:
    if num_tokens < 0:
        raise InvalidFeaturesError(f"num_tokens must be >= 0, got {num_tokens}")
    w, r = config.window_tokens, config.ratio
    ws = torch.arange(0, num_tokens, w, dtype=torch.long)
    we = torch.clamp(ws + w, max=num_tokens)
    lens = we - ws
    per = -(-lens // r)
    win = torch.repeat_interleave(torch.arange(ws.numel()), per)
    first = torch.repeat_interleave(torch.cumsum(per, 0) - per, per)
    j = torch.arange(int(per.sum())) - first  # slot number within its window
    starts = ws[win] + j * r
    ends = torch.minimum(starts + r, we[win])
    return WindowPlan(num_tokens, w, r, ws, we, starts, ends, win)


def count_kept(num_tokens: int, config: VideoXLConfig) -> int:
    full, rest = divmod(num_tokens, config.window_tokens)
    return full * ceil_div(config.window_tokens, config.ratio) + ceil_div(rest, config.ratio)


@register_compressor("videoxl_window")
@dataclass(frozen=True)
class VideoXLWindow(Compressor):
    """Training-free window-wise KV budget: keep ``ceil(len/r)`` tokens of every 1440-token window."""

    name = "videoxl_window"
    window_tokens: int = VideoXLConfig.window_tokens
    ratio: int = VideoXLConfig.ratio
    select: Literal["stride", "query"] = "stride"  # which tokens of a window stay (see module docstring)

    def __post_init__(self) -> None:
        VideoXLConfig(self.window_tokens, self.ratio)  # validates both
        if self.select not in ("stride", "query"):
            raise InvalidFeaturesError(f"select must be 'stride' or 'query', got {self.select!r}")

    @property
    def config(self) -> VideoXLConfig:
        return VideoXLConfig(self.window_tokens, self.ratio)

    def _fit(self, num_frames: int, n: int, budget: int) -> tuple[int, int]:
        """(frames, ratio) that fit: configured ratio, then larger ones, then fewer frames."""
        for r in (r for r in RATIOS if r >= self.ratio):
            if count_kept(num_frames * n, VideoXLConfig(self.window_tokens, r)) <= budget:
                return num_frames, r
        cfg = VideoXLConfig(self.window_tokens, RATIOS[-1])
        lo, hi = 0, num_frames  # largest frame count that fits at the largest ratio (count grows with frames)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if count_kept(mid * n, cfg) <= budget else (lo, mid - 1)
        return lo, RATIOS[-1]

    def min_budget(self, grid: Grid) -> int:
        return count_kept(grid[0] * grid[1], VideoXLConfig(self.window_tokens, RATIOS[-1]))

    def _token_count(self, *, num_frames: int, grid: Grid, budget: int) -> TokenCount:
        k, r = self._fit(num_frames, grid[0] * grid[1], budget)
        return TokenCount(count_kept(k * grid[0] * grid[1], VideoXLConfig(self.window_tokens, r)), exact=True)

    def compress(self, features: FrameFeatures, *, budget: int, query: Query | None,
                 temporal_features: torch.Tensor | None) -> VisualTokens:
        t0 = time.perf_counter()
        t_in = len(features)
        h, w = features.grid
        n = h * w
        k, r = self._fit(t_in, n, budget)
        if k < 1:
            raise BudgetError(f"videoxl_window: budget {budget} cannot hold one frame at ratio {RATIOS[-1]}")
        notes = []
        if r != self.ratio:
            notes.append(f"ratio raised {self.ratio} -> {r} to fit {budget} tokens")
        pos_f = uniform_positions(t_in, k)
        if k < t_in:
            notes.append(f"uniformly subsampled {t_in} -> {k} frames")
        f = subset(features, pos_f) if k < t_in else features
        x = f.features.reshape(k * n, -1)
        plan = plan_windows(k * n, VideoXLConfig(self.window_tokens, r))
        qv = query_vector(query, x.device) if self.select == "query" else None
        if self.select == "query" and qv is None:
            notes.append("no query embedding: kept the last token of each group")
        keep = plan.summary_sources() if qv is None else _query_keep(x, qv, plan)
        note = "; ".join(notes)
        if note:
            logger.info("videoxl_window: %s", note)
        st = StageStats("videoxl_window", t_in, k, t_in * n, int(keep.numel()), time.perf_counter() - t0, note)
        return assemble([x[keep.to(x.device)]], features, [pos_f[keep // n]], [keep % n],
                        [torch.tensor([h, w]).expand(keep.numel(), 2)], [st],
                        d=x.shape[-1], dtype=x.dtype, device=x.device)


def _query_keep(x: torch.Tensor, qv: torch.Tensor, plan: WindowPlan) -> torch.Tensor:
    """Per window, the ``ceil(len/r)`` raw positions most similar to the query, in order."""
    m, wt = plan.num_tokens, plan.window_tokens
    scores = torch.full((plan.num_windows * wt,), float("-inf"), device=x.device)
    scores[:m] = x.float() @ qv
    scores = scores.reshape(plan.num_windows, wt)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(wt, device=x.device).expand_as(order))
    quota = torch.bincount(plan.summary_windows, minlength=plan.num_windows).to(x.device)
    keep = (ranks < quota[:, None]).reshape(-1)[:m]
    return torch.nonzero(keep).flatten().cpu()
