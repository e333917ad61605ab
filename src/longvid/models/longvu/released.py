"""Stages 2 and 3 of a released LongVU checkpoint, laid out as the released model lays them out.

The ``longvu`` compressor plans on bare tokens and adds row newlines afterwards. A released
checkpoint was trained and evaluated on a different layout, and this module reproduces it so the
LLM sees the tokens it expects (docs/models.md, "Fidelity with the released code"):

Design decisions:
- ``M`` is the visual budget the released code computes: the context left after the text, which
  counts the ``<image>`` id (``LongVUModel.drop_budget``).
- Band test on bare grids: every frame at high resolution when ``N < M // (12*12)``; when
  ``N > M // (8*8)`` mixed resolution is off and the frames stay at high resolution (STC then runs
  on them, not on low-resolution frames); in between every frame starts low.
- Frame sequences hold their newline column: a high frame is ``12 * (12 + 1) = 156`` tokens, a low
  frame ``8 * (8 + 1) = 72``. The number of frames upgraded is
  ``k = floor((M - 72 N) / (156 - 72))`` (newlines counted), only when ``M > 72 N`` and ``k >= 1``,
  at most ``N``; the upgraded frames are the top-k by relevance.
- Relevance is the released one: mean over a low frame's tokens, newline included, of the dot
  product with the mean question embedding (ties: the earlier frame).
- STC runs (when nothing was upgraded and the sequence exceeds ``M``) on the frames *with* their
  newline column: a newline cell is compared to the chunk's first frame's newline like any other
  cell, so frames 2-8 of a chunk normally lose theirs. Over budget, ``ceil(excess / chunks)`` tokens
  go from the end of every chunk, then the sequence is cut to ``M`` (the released fallback).
- Non-square frames are unpadded as released: the rows (landscape) or columns (portrait) of the
  final 12x12 and 8x8 grids that lie in the square padding are trimmed, and newlines end only the
  rows left. The trim is computed from the frame size pair the released code receives, read as
  (width, height) (:func:`unpad_window`); which pair that is (the trained ``(H, W)`` or the
  picture's true ``(W, H)``) is the caller's choice (``LongVUConfig.size_reading``). The low grid
  gets the pair divided by ``12 / 8`` and truncated, as released. All frames of a video share it.
- Newline tokens carry cell -1 and their row's frame; kept cells keep their index on the full
  (untrimmed) grid, so provenance is intact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

Resolution = Literal["high", "low"]
Window = tuple[tuple[int, int], tuple[int, int]]  # (row start, row stop), (column start, column stop)


def unpad_window(grid: tuple[int, int], size: tuple[float, float] | None) -> Window:
    """Rows and columns of a padded-to-square token ``grid`` that the released unpadding keeps.

    ``size`` is the pair the released code is given, read as (width, height). The wider side keeps
    all its cells; the other keeps ``int(short * (side / long))`` cells centred, ``(side - new) // 2``
    trimmed at each end (float arithmetic in the released order). A trim that would leave nothing
    keeps the whole grid (the released code's fallback for such frames). ``None``: no trim.
    """
    h, w = grid
    full = ((0, h), (0, w))
    if size is None:
        return full
    ow, oh = size
    if ow <= 0 or oh <= 0:
        return full
    if ow / oh > w / h:
        new = int(oh * (w / ow))
        pad = (h - new) // 2
        win = ((pad, h - pad), (0, w))
    else:
        new = int(ow * (h / oh))
        pad = (w - new) // 2
        win = ((0, h), (pad, w - pad))
    (r0, r1), (c0, c1) = win
    return full if r1 <= r0 or c1 <= c0 else win


def low_size(size: tuple[float, float] | None, high_side: int, low_side: int) -> tuple[int, int] | None:
    """The size pair the released code unpads the low grid with: each side ``int(s / (high / low))``."""
    if size is None:
        return None
    f = high_side / low_side
    return int(size[0] / f), int(size[1] / f)


def window_shape(win: Window) -> tuple[int, int]:
    (r0, r1), (c0, c1) = win
    return r1 - r0, c1 - c0


def crop(x: torch.Tensor, grid: tuple[int, int], win: Window) -> torch.Tensor:
    """``(N, h*w, D)`` -> ``(N, rows*cols, D)``: the cells inside ``win``, row-major."""
    n, _, d = x.shape
    (r0, r1), (c0, c1) = win
    return x.reshape(n, grid[0], grid[1], d)[:, r0:r1, c0:c1].reshape(n, -1, d)


@dataclass(frozen=True)
class ReleasedPlan:
    """What the released code does with ``N`` frames under visual budget ``M``."""

    resolution: Resolution  # the resolution every frame starts at
    upgrades: int  # frames switched to high resolution (mixed resolution), 0 if none
    stc: bool  # spatial token compression runs on the frames at ``resolution``


def released_plan(num_frames: int, budget: int, *, high: tuple[int, int] = (12, 12),
                  low: tuple[int, int] = (8, 8), mixed: bool = True, high_kept: tuple[int, int] | None = None,
                  low_kept: tuple[int, int] | None = None) -> ReleasedPlan:
    """The released stage-2/3 decisions for ``num_frames`` frames and visual budget ``budget`` (``M``).

    The band test uses the bare full grids; the frame sizes (newlines included) use the unpadded
    grids ``high_kept`` / ``low_kept`` (rows, columns), the full grids when not given.
    """
    n, m = num_frames, budget
    hk, lk = high_kept or high, low_kept or low
    per_high, per_low = hk[0] * (hk[1] + 1), lk[0] * (lk[1] + 1)
    in_band = mixed and not n < max(1, m // (high[0] * high[1])) and not n > max(1, m // (low[0] * low[1]))
    if not in_band:
        return ReleasedPlan("high", 0, n * per_high > m)
    k = math.floor((m - n * per_low) / (per_high - per_low)) if m > n * per_low and per_high > per_low else 0
    if k >= 1:
        return ReleasedPlan("low", min(k, n), False)
    return ReleasedPlan("low", 0, n * per_low > m)


def with_newlines(x: torch.Tensor, grid: tuple[int, int], newline: torch.Tensor) -> torch.Tensor:
    """``(N, h*w, D)`` -> ``(N, h*(w+1), D)``: the newline embedding after every row."""
    n, _, d = x.shape
    h, w = grid
    nl = newline.to(x.dtype).to(x.device).view(1, 1, 1, d).expand(n, h, 1, d)
    return torch.cat([x.reshape(n, h, w, d), nl], dim=2).reshape(n, h * (w + 1), d)


def row_cells(grid: tuple[int, int], win: Window | None = None) -> torch.Tensor:
    """Cell of each position of a frame with newlines: the kept cells of ``grid`` (all, or those
    inside ``win``) row-major, indexed on the full grid, and -1 for the newline after each row."""
    h, w = grid
    (r0, r1), (c0, c1) = win or ((0, h), (0, w))
    cells = torch.arange(h * w).reshape(h, w)[r0:r1, c0:c1]
    return torch.cat([cells, torch.full((r1 - r0, 1), -1)], dim=1).reshape(-1)


def released_relevance(low_nl: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """``(N, L, D)`` low frames with newlines, ``(Q, D)`` question embeddings -> ``(N,)`` scores."""
    return (low_nl.float() @ query.float().mean(0)).mean(1)


def released_stc(frames: torch.Tensor, budget: int, *, threshold: float, chunk_frames: int = 8) -> torch.Tensor:
    """Keep mask ``(N, L)`` over frames with newlines: similarity pruning, ceil drops, cut to ``budget``."""
    n, length, _ = frames.shape
    anchor = torch.arange(n, device=frames.device) // chunk_frames * chunk_frames
    sim = F.cosine_similarity(frames.float(), frames[anchor].float(), dim=-1)
    mask = sim < threshold
    mask[::chunk_frames] = True
    total = int(mask.sum())
    if total > budget:
        n_chunks = math.ceil(n / chunk_frames)
        drop = math.ceil((total - budget) / n_chunks)
        flat = mask.reshape(-1).clone()
        pos = torch.nonzero(flat).flatten()
        chunk = pos // length // chunk_frames
        counts = torch.bincount(chunk, minlength=n_chunks)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(pos.numel(), device=pos.device) - starts[chunk]
        flat[pos[rank >= counts[chunk] - drop]] = False
        kept = torch.nonzero(flat).flatten()
        flat[kept[budget:]] = False
        mask = flat.reshape(n, length)
    return mask


@dataclass(frozen=True)
class ReleasedLayout:
    """The released token sequence: tokens and, per token, its frame position, cell and grid."""

    tokens: torch.Tensor  # (L, D)
    positions: torch.Tensor  # (L,) position of the source frame among the inputs
    cells: torch.Tensor  # (L,) cell on ``grids``, -1 for a newline
    grids: torch.Tensor  # (L, 2)
    plan: ReleasedPlan
    note: str
    before_stc: int  # tokens of the stage-2 sequence (newlines included) that STC received, or emitted


def released_layout(high: torch.Tensor, low: torch.Tensor | None, newline: torch.Tensor, query: torch.Tensor | None,
                    budget: int, *, high_grid: tuple[int, int], low_grid: tuple[int, int],
                    threshold: float, chunk_frames: int = 8, size: tuple[float, float] | None = None) -> ReleasedLayout:
    """High ``(N, hh*hw, D)`` and low ``(N, lh*lw, D)`` frame tokens -> the released sequence under ``budget``.

    ``size``: the frame size pair the released code unpads with, read as (width, height)
    (:func:`unpad_window`); None keeps the full square grids.
    """
    n = high.shape[0]
    hwin = unpad_window(high_grid, size)
    lwin = unpad_window(low_grid, low_size(size, high_grid[0], low_grid[0]))
    plan = released_plan(n, budget, high=high_grid, low=low_grid, mixed=low is not None,
                         high_kept=window_shape(hwin), low_kept=window_shape(lwin))
    hi = with_newlines(crop(high, high_grid, hwin), window_shape(hwin), newline)
    per_h = hi.shape[1]
    if plan.resolution == "high":
        frames, grid, win, is_high = hi, high_grid, hwin, torch.ones(n, dtype=torch.bool)
    else:
        frames, grid, win = with_newlines(crop(low, low_grid, lwin), window_shape(lwin), newline), low_grid, lwin
        is_high = torch.zeros(n, dtype=torch.bool)
        if plan.upgrades:
            scores = released_relevance(frames, query) if query is not None else torch.zeros(n)
            order = torch.argsort(scores.cpu(), descending=True, stable=True)
            is_high[order[:plan.upgrades]] = True
    if plan.stc:
        mask = released_stc(frames, budget, threshold=threshold, chunk_frames=chunk_frames)
        idx = torch.nonzero(mask.reshape(-1).cpu()).flatten()
        per = frames.shape[1]
        pos, slot = idx // per, idx % per
        tokens = frames.reshape(-1, frames.shape[-1])[idx.to(frames.device)]
        cells = row_cells(grid, win)[slot]
        grids = torch.tensor(grid).expand(idx.numel(), 2)
        note = f"{plan.resolution} frames with newlines, STC kept {idx.numel()} of {n * per} tokens"
        return ReleasedLayout(tokens, pos, cells, grids, plan, note, n * per)
    toks, pos, cells, grids = [], [], [], []
    lc, hc = row_cells(low_grid, lwin), row_cells(high_grid, hwin)
    for i in range(n):
        if bool(is_high[i]):
            toks.append(hi[i])
            cells.append(hc)
            grids.append(torch.tensor(high_grid).expand(per_h, 2))
        else:
            toks.append(frames[i])
            cells.append(lc)
            grids.append(torch.tensor(low_grid).expand(lc.numel(), 2))
        pos.append(torch.full((cells[-1].numel(),), i))
    note = f"{int(is_high.sum())} of {n} frames at high resolution (newlines counted)"
    total = sum(len(t) for t in toks)
    return ReleasedLayout(torch.cat(toks), torch.cat(pos), torch.cat(cells), torch.cat(grids), plan, note, total)
