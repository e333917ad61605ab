"""Uniform frame subsampling and LLaVA-style spatial pooling (LongVA's 2x2 average pool).

Design decisions:
- ``uniform`` is the baseline every method is compared to: keep every frame with its full grid
  when that fits, else the evenly spread ``budget // (h*w)`` frames (centre of equal spans).
- ``avg_pool_2x2`` (LongVA: 576 -> 144 per frame) and ``bilinear`` (LLaVA-OneVision's bilinear
  pooling) shrink each frame's grid by ``stride`` (ceil for odd sizes) and then, when the frames
  still do not fit, subsample frames uniformly. That fallback is the only sensible one for a
  fixed-rate method; it is recorded in the stage note and logged.
- Pooled tokens keep exact provenance: their cell indexes the pooled grid (``cell_grids``), which
  covers the same image area as the source grid.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from longvid.compress.base import (
    Compressor,
    Grid,
    Query,
    TokenCount,
    ceil_div,
    grid_tokens,
    need_frames,
    register_compressor,
    resize_grid,
    subset,
    uniform_positions,
)
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)


def _fit_frames(features: FrameFeatures, per_frame: int, budget: int, *, max_frames: int | None,
                what: str, fit: bool = True) -> tuple[torch.Tensor, str]:
    """Positions of the frames kept so that ``frames * per_frame <= budget`` (``fit``) and at most
    ``max_frames``, and a note."""
    t = len(features)
    k = min(t, budget // per_frame if fit else t, max_frames if max_frames is not None else t)
    need_frames(k, budget=budget, per_frame=per_frame, what=what)
    note = ""
    if k < t:
        why = f"to fit {budget} tokens at {per_frame}/frame" if k == budget // per_frame else f"(max_frames={k})"
        note = f"uniformly subsampled {t} -> {k} frames {why}"
        logger.info("%s: %s", what, note)
    return uniform_positions(t, k), note


@register_compressor("uniform")
@dataclass(frozen=True)
class Uniform(Compressor):
    """Evenly spread frames, every token of each; the baseline."""

    name = "uniform"
    max_frames: int | None = None  # optional cap on frames (e.g. 32 like LongVA demos); None = budget only

    def compress(self, features: FrameFeatures, *, budget: int, query: Query | None,
                 temporal_features: torch.Tensor | None, fit: bool = True) -> VisualTokens:
        t0 = time.perf_counter()
        n = features.grid[0] * features.grid[1]
        pos, note = _fit_frames(features, n, budget, max_frames=self.max_frames, what=self.name, fit=fit)
        kept = subset(features, pos)
        st = StageStats("uniform", len(features), len(pos), len(features) * n, len(pos) * n,
                        time.perf_counter() - t0, note)
        return grid_tokens(kept.features, features, pos, features.grid, [st])

    def min_budget(self, grid: Grid) -> int:
        return grid[0] * grid[1]

    def _frames(self, num_frames: int, grid: Grid, budget: int) -> int:
        cap = self.max_frames if self.max_frames is not None else num_frames
        return min(num_frames, cap, budget // (grid[0] * grid[1]))

    def _token_count(self, *, num_frames: int, grid: Grid, budget: int) -> TokenCount:
        return TokenCount(self._frames(num_frames, grid, budget) * grid[0] * grid[1], exact=True)

    def output_layout(self, *, num_frames: int, grid: Grid) -> tuple[int, Grid] | None:
        return min(num_frames, self.max_frames or num_frames), grid


@dataclass(frozen=True)
class _GridPool(Compressor):
    stride: int = 2  # shrink each side by this factor (ceil): 24x24 -> 12x12, LongVA's 144 tokens/frame
    max_frames: int | None = None  # optional cap on frames; None = budget only
    mode = "area"

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise InvalidFeaturesError(f"stride must be >= 1, got {self.stride}")

    def pooled_grid(self, grid: Grid) -> Grid:
        return ceil_div(grid[0], self.stride), ceil_div(grid[1], self.stride)

    def compress(self, features: FrameFeatures, *, budget: int, query: Query | None,
                 temporal_features: torch.Tensor | None, fit: bool = True) -> VisualTokens:
        t0 = time.perf_counter()
        g = self.pooled_grid(features.grid)
        per = g[0] * g[1]
        pos, note = _fit_frames(features, per, budget, max_frames=self.max_frames, what=self.name, fit=fit)
        kept = subset(features, pos)
        y = resize_grid(kept.features, features.grid, g, mode=self.mode)
        n_in = features.grid[0] * features.grid[1]
        st = StageStats(self.name, len(features), len(pos), len(features) * n_in, len(pos) * per,
                        time.perf_counter() - t0, note)
        return grid_tokens(y, features, pos, g, [st])

    def min_budget(self, grid: Grid) -> int:
        g = self.pooled_grid(grid)
        return g[0] * g[1]

    def _frames(self, num_frames: int, grid: Grid, budget: int) -> int:
        g = self.pooled_grid(grid)
        cap = self.max_frames if self.max_frames is not None else num_frames
        return min(num_frames, cap, budget // (g[0] * g[1]))

    def _token_count(self, *, num_frames: int, grid: Grid, budget: int) -> TokenCount:
        g = self.pooled_grid(grid)
        return TokenCount(self._frames(num_frames, grid, budget) * g[0] * g[1], exact=True)

    def output_layout(self, *, num_frames: int, grid: Grid) -> tuple[int, Grid] | None:
        return min(num_frames, self.max_frames or num_frames), self.pooled_grid(grid)


@register_compressor("avg_pool_2x2")
@dataclass(frozen=True)
class AvgPool(_GridPool):
    """LongVA: average pool each frame's grid (2x2 by default: 576 -> 144 tokens per frame)."""

    name = "avg_pool_2x2"
    mode = "area"


@register_compressor("bilinear")
@dataclass(frozen=True)
class BilinearPool(_GridPool):
    """LLaVA-OneVision-style bilinear downsampling of each frame's grid by ``stride``."""

    name = "bilinear"
    mode = "bilinear"
