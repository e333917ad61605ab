"""LongVU stage 2: text-guided mixed resolution (high-resolution frames chosen by the query).

Design decisions:
- High resolution is the input grid (12x12 = 144 after LongVU's aggregator); low resolution is an
  explicit grid reached by bilinear resize (align_corners False), clamped to the input grid when
  the input is smaller. ``MixedResolutionConfig.low_grid`` (8x8 = 64) is the one place that grid
  is set: a checkpoint's ``lowres_token`` reaches it (``MixedResolutionConfig.square``, or the
  ``longvu`` compressor's ``lowres_token`` option), and LongVU's temporal condition
  ``T >= budget // 64`` takes its divisor from it.
- With N frames: ``N*high <= budget`` keeps all at high; else, if ``N*low <= budget``, all start
  low and the top ``k = (budget - N*low) // (high - low)`` frames by query relevance go high.
- Relevance is the mean dot product between the frame's low-resolution tokens and the query's
  embeddings, which equals the dot product of the two means: O(N*D), computed in float32.
- Ties rank the earlier frame first (stable sort), so results are deterministic.
- Without a query embedding there is nothing to rank by: the k upgraded frames are then spread
  evenly over the video, and the stage note says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from longvid.compress.base import Grid, uniform_positions
from longvid.errors import InvalidFeaturesError


@dataclass(frozen=True)
class MixedResolutionConfig:
    low_grid: Grid = (8, 8)  # LongVU: low-resolution frames are 8x8 = 64 tokens (bilinear resize)

    def __post_init__(self) -> None:
        g = self.low_grid
        if (not isinstance(g, (tuple, list)) or len(g) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in g)):
            raise InvalidFeaturesError(f"low_grid must be (h, w) with integers h, w >= 1, got {g!r}")
        object.__setattr__(self, "low_grid", (int(g[0]), int(g[1])))  # a list from JSON becomes a tuple

    @classmethod
    def square(cls, side: int) -> MixedResolutionConfig:
        """A ``side x side`` low grid: what a LongVU checkpoint's ``lowres_token`` means."""
        if isinstance(side, bool) or not isinstance(side, int) or side < 1:
            raise InvalidFeaturesError(f"lowres_token must be an integer >= 1 (the low grid's side), got {side!r}")
        return cls(low_grid=(side, side))

    @property
    def low_tokens(self) -> int:
        """Tokens of one low-resolution frame (64 for LongVU's 8x8)."""
        return self.low_grid[0] * self.low_grid[1]

    def low_for(self, grid: Grid) -> Grid:
        """The low-resolution grid for an input grid (never larger than the input)."""
        return min(self.low_grid[0], grid[0]), min(self.low_grid[1], grid[1])


Mode = Literal["high", "mixed", "over"]


def resolution_plan(num_frames: int, high: int, low: int, budget: int) -> tuple[Mode, int]:
    """("high", N) | ("mixed", k upgraded frames) | ("over", 0): what fits the budget."""
    if num_frames * high <= budget:
        return "high", num_frames
    if num_frames * low <= budget:
        k = 0 if high <= low else min(num_frames, (budget - num_frames * low) // (high - low))
        return "mixed", k
    return "over", 0


def frame_relevance(low_tokens: torch.Tensor, query_vec: torch.Tensor) -> torch.Tensor:
    """``(N, n, D)`` low-res tokens, ``(D,)`` mean query embedding -> ``(N,)`` float32 scores."""
    return low_tokens.float().mean(1) @ query_vec.float()


def choose_upgrades(scores: torch.Tensor | None, num_frames: int, k: int) -> torch.Tensor:
    """Positions (increasing) of the ``k`` frames to upgrade: top-k by score, or evenly spread."""
    if k <= 0:
        return torch.empty(0, dtype=torch.long)
    if scores is None:
        return uniform_positions(num_frames, k)
    order = torch.argsort(scores.cpu(), descending=True, stable=True)
    return torch.sort(order[:k]).values
