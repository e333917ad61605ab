"""``Pipeline``: compressors chained one after another.

Design decisions:
- Every stage but the last must keep one full grid per frame (``output_layout`` is not None:
  ``uniform``, ``avg_pool_2x2``, ``bilinear``, ``longvu_temporal``); its tokens are turned back
  into ``FrameFeatures`` (frame indices and timestamps preserved) for the next stage. A stage whose
  output is not a grid (LLaMA-VID, STC) can only be last; building such a pipeline raises.
- Intermediate stages run with ``fit=False``: they see the final budget (LongVU's temporal stage
  decides from it whether to run) but do not subsample frames to fit it; only the last stage
  fits the budget. ``uniform(max_frames=k)`` is the explicit way to cap frames ahead of a stage.
- ``temporal_features`` given as a per-frame tensor are tied to frame indices once, so later
  stages still see the rows of the frames that survived.
- The token count is the last stage's count for the previous stages' output layout; it is exact
  only when every stage is exact, otherwise a guaranteed upper bound (counts grow with frames).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from longvid.compress.base import (
    Compressor,
    Grid,
    Query,
    TokenCount,
    align_temporal_features,
    check_budget,
    check_features,
    check_output,
    check_query,
    create_compressor,
)
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameFeatures, VisualTokens


class Pipeline(Compressor):
    name = "pipeline"

    def __init__(self, stages: Sequence[Compressor | str]) -> None:
        if not stages:
            raise InvalidFeaturesError("a Pipeline needs at least one stage")
        self.stages: tuple[Compressor, ...] = tuple(
            create_compressor(s) if isinstance(s, str) else s for s in stages
        )
        for s in self.stages[:-1]:
            if s.output_layout(num_frames=1, grid=(2, 2)) is None:
                raise InvalidFeaturesError(
                    f"stage {s!r} does not output one grid per frame, so it can only be the last stage"
                )

    def __repr__(self) -> str:
        return f"Pipeline({[s.name for s in self.stages]})"

    def __call__(self, features: FrameFeatures, *, budget: int, query: Query | None = None,
                 temporal_features: FrameFeatures | torch.Tensor | None = None) -> VisualTokens:
        check_features(features)
        check_budget(budget)
        self.check_min_budget(features.grid, budget)
        if query is not None and query.embedding is not None:
            check_query(query, features)
        tf = align_temporal_features(temporal_features, features)
        out = self.compress(features, budget=budget, query=query, temporal_features=tf)
        check_output(self, out, budget)
        return out

    def compress(self, features: FrameFeatures, *, budget: int, query: Query | None,
                 temporal_features: torch.Tensor | None) -> VisualTokens:
        stats = []
        feats = features
        tf_all = temporal_features
        for i, stage in enumerate(self.stages):
            tf = None
            if tf_all is not None:
                tf = _rows_for(features.frame_indices, tf_all, feats.frame_indices)
            last = i + 1 == len(self.stages)
            if last:
                out = stage(feats, budget=budget, query=query, temporal_features=tf)
            else:
                out = stage.compress(feats, budget=budget, query=query, temporal_features=tf, fit=False)
            stats.extend(out.stats)
            if not last:
                feats = tokens_to_features(out)
        return VisualTokens(out.tokens, out.frame_indices, out.timestamps_s, out.cells, tuple(stats),
                            out.cell_grids)

    def min_budget(self, grid: Grid) -> int:
        for s in self.stages[:-1]:
            grid = s.output_layout(num_frames=1, grid=grid)[1]
        return self.stages[-1].min_budget(grid)

    def _token_count(self, *, num_frames: int, grid: Grid, budget: int) -> TokenCount:
        exact = True
        for s in self.stages[:-1]:
            exact &= s.intermediate_exact(num_frames=num_frames, grid=grid, budget=budget)
            num_frames, grid = s.output_layout(num_frames=num_frames, grid=grid)
        last = self.stages[-1].token_count(num_frames=num_frames, grid=grid, budget=budget)
        return TokenCount(last.tokens, exact and last.exact)


def _rows_for(all_indices: torch.Tensor, rows: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """Rows of ``rows`` (aligned with ``all_indices``) for the frames ``want``."""
    src = all_indices.to("cpu")
    order = torch.argsort(src)
    pos = torch.searchsorted(src[order], want.to("cpu"))
    return rows[order[pos].to(rows.device)]


def tokens_to_features(tokens: VisualTokens) -> FrameFeatures:
    """Undo a gridded stage: one full grid per frame, cells in row-major order."""
    if tokens.cell_grids is None or len(tokens) == 0:
        raise InvalidFeaturesError("tokens carry no grid; the stage cannot feed another stage")
    grid = tuple(int(v) for v in tokens.cell_grids[0])
    n = grid[0] * grid[1]
    m = len(tokens)
    ok = (
        m % n == 0
        and bool((tokens.cell_grids == torch.tensor(grid)).all())
        and torch.equal(tokens.cells, torch.arange(n).repeat(m // n))
    )
    fi = tokens.frame_indices.reshape(-1, n) if ok else None
    if not ok or not bool((fi == fi[:, :1]).all()):
        raise InvalidFeaturesError("tokens are not one full grid per frame; put this stage last")
    return FrameFeatures(
        features=tokens.tokens.reshape(m // n, n, -1),
        grid=grid,
        timestamps_s=tokens.timestamps_s.reshape(-1, n)[:, 0].contiguous(),
        frame_indices=fi[:, 0].contiguous(),
    )
