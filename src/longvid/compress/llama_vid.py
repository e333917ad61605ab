"""LLaMA-VID, training-free: a context token and a content token per frame.

This compressor is a stand-in for any model's tokens; the real method, with its trained Q-Former
and released checkpoints, is the ``llama_vid`` model family (``longvid.models.llama_vid``).

Design decisions:
- Context token: the question's token embeddings (``Query.embedding``, same space as the
  patches) attend over the frame's patches (softmax of scaled dot products); the attended
  vectors are averaged over the query tokens. This stands in for LLaMA-VID's trained Q-Former
  and is only meaningful where text and patches share a space (e.g. tokens already projected to
  the LLM width). Averaging over queries before or after the weighted sum is the same, so the
  per-frame weights are averaged first: O(T * L * N), in frame slices, float32.
- Without a query embedding the frame's own mean token is the query (attention pooling); the
  stage note says so.
- Content token: mean pool (``content_grid=None``, the default: 1 token, cell -1) or
  ``content_grid=N`` (N x N area-pooled tokens, cells on that grid, clamped to the input grid).
  A typed option checked once when the compressor is built. Order per frame: context, then
  content, as in LLaMA-VID.
- Over budget: frames are subsampled uniformly (noted). A budget below one frame's tokens raises.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch

from longvid.compress.base import (
    Compressor,
    Grid,
    Query,
    TokenCount,
    assemble,
    register_compressor,
    resize_grid,
    subset,
    uniform_positions,
)
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)


def context_tokens(x: torch.Tensor, queries: torch.Tensor | None, *, slice_frames: int = 128) -> torch.Tensor:
    """``(T, N, D)`` patches, ``(L, D)`` queries (None: each frame's mean) -> ``(T, D)`` float32."""
    t, _, d = x.shape
    out = torch.empty(t, d, dtype=torch.float32, device=x.device)
    scale = 1.0 / math.sqrt(d)
    for i in range(0, t, slice_frames):
        xs = x[i:i + slice_frames].float()
        q = xs.mean(1, keepdim=True) if queries is None else queries.float().expand(xs.shape[0], -1, -1)
        w = torch.softmax(torch.bmm(q, xs.transpose(1, 2)) * scale, dim=-1).mean(1)  # (t, N)
        out[i:i + slice_frames] = torch.bmm(w.unsqueeze(1), xs).squeeze(1)
    return out


@register_compressor("llama_vid")
@dataclass(frozen=True)
class LlamaVID(Compressor):
    """Two tokens per frame by default: a query-conditioned context token and a mean content token."""

    name = "llama_vid"
    # None: LLaMA-VID's video default, one mean-pooled content token; N: N x N area-pooled tokens
    content_grid: int | None = None
    context: bool = True  # LLaMA-VID: one context token per frame from the question

    def __post_init__(self) -> None:
        n = self.content_grid
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise InvalidFeaturesError(f"content_grid must be None (one mean token) or an integer >= 1, got {n!r}")

    def content_grid_for(self, grid: Grid) -> Grid | None:
        """The grid of the content tokens for an input grid (None: one mean-pooled token)."""
        n = self.content_grid
        return None if n is None else (min(n, grid[0]), min(n, grid[1]))

    def per_frame(self, grid: Grid) -> int:
        g = self.content_grid_for(grid)
        return int(self.context) + (1 if g is None else g[0] * g[1])

    def min_budget(self, grid: Grid) -> int:
        return self.per_frame(grid)

    def _token_count(self, *, num_frames: int, grid: Grid, budget: int) -> TokenCount:
        per = self.per_frame(grid)
        return TokenCount(min(num_frames, budget // per) * per, exact=True)

    def compress(self, features: FrameFeatures, *, budget: int, query: Query | None,
                 temporal_features: torch.Tensor | None) -> VisualTokens:
        t0 = time.perf_counter()
        h, w = features.grid
        per = self.per_frame(features.grid)
        t_in = len(features)
        k = min(t_in, budget // per)
        pos = uniform_positions(t_in, k)
        note = f"uniformly subsampled {t_in} -> {k} frames" if k < t_in else ""
        f = subset(features, pos) if k < t_in else features
        x = f.features
        d = x.shape[-1]
        parts, cells, grids = [], [], []
        if self.context:
            q = None if query is None or query.embedding is None else query.embedding.to(x.device)
            if q is None:
                note = "; ".join(filter(None, [note, "no query embedding: context token = attention pooling"]))
            parts.append(context_tokens(x, q).to(x.dtype).unsqueeze(1))
            cells.append(torch.full((k, 1), -1))
            grids.append(torch.tensor([h, w]).expand(k, 1, 2))
        g = self.content_grid_for(features.grid)
        if g is None:
            parts.append(x.float().mean(1, keepdim=True).to(x.dtype))
            cells.append(torch.full((k, 1), -1))
            grids.append(torch.tensor([h, w]).expand(k, 1, 2))
        else:
            parts.append(resize_grid(x.float(), features.grid, g, mode="area").to(x.dtype))
            cells.append(torch.arange(g[0] * g[1]).expand(k, -1))
            grids.append(torch.tensor(g).expand(k, g[0] * g[1], 2))
        tok = torch.cat(parts, dim=1)  # (k, per, D): frame-major order
        assert tok.shape[1] == per, (tok.shape, per)
        if note:
            logger.info("llama_vid: %s", note)
        st = StageStats("llama_vid", t_in, k, t_in * h * w, k * per, time.perf_counter() - t0, note)
        return assemble([tok.reshape(k * per, d)], features, [pos.repeat_interleave(per)],
                        [torch.cat(cells, 1).reshape(-1)], [torch.cat(grids, 1).reshape(-1, 2)], [st],
                        d=d, dtype=x.dtype, device=x.device)

