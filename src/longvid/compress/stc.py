"""LongVU stage 3: spatial token compression (STC) across frames, then the budget fallbacks.

Design decisions:
- Frames are grouped in chunks of K = 8. A chunk's first frame keeps every token; in the other
  frames a token is kept only where its cosine similarity to the token at the same cell of the
  chunk's first frame is below theta = 0.7 (released config; training used 0.8). Computed for
  all frames at once (one gather of anchors, one row-wise cosine) in float32, in slices of frames
  to bound the float32 copy.
- Fallbacks when the kept tokens still exceed the budget, as in LongVU: drop the same number of
  tokens from the end of every chunk, then truncate the whole sequence to the budget. The number
  dropped per chunk is ``floor(excess / chunks)``: it never removes more than the excess, so
  after the truncation the result holds exactly ``budget`` tokens (rounding up could empty short
  chunks and undershoot the budget).
- The result is a keep mask ``(T, n)``; tokens are emitted frame by frame in cell order, so the
  sequence order (and "the end of a chunk") is time order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from longvid.compress.base import ceil_div
from longvid.errors import InvalidFeaturesError


@dataclass(frozen=True)
class STCConfig:
    chunk_frames: int = 8  # LongVU: chunks of K = 8 frames; the first frame of each keeps all tokens
    threshold: float = 0.7  # LongVU released config (training script: 0.8): keep tokens with similarity below

    def __post_init__(self) -> None:
        if self.chunk_frames < 1:
            raise InvalidFeaturesError(f"chunk_frames must be >= 1, got {self.chunk_frames}")


def stc_keep_mask(x: torch.Tensor, config: STCConfig = STCConfig(), *, slice_frames: int = 64) -> torch.Tensor:
    """``(T, n, D)`` tokens -> ``(T, n)`` bool: which tokens STC keeps (before budget fallbacks)."""
    t, n, _ = x.shape
    k = config.chunk_frames
    anchor = torch.arange(t, device=x.device) // k * k
    mask = torch.empty(t, n, dtype=torch.bool, device=x.device)
    for i in range(0, t, slice_frames):
        a = x[i:i + slice_frames].float()
        b = x[anchor[i:i + slice_frames]].float()
        mask[i:i + slice_frames] = F.cosine_similarity(a, b, dim=-1) < config.threshold
    mask[::k] = True
    return mask


def fit_mask(mask: torch.Tensor, budget: int, chunk_frames: int) -> tuple[torch.Tensor, str]:
    """LongVU's fallbacks: equal drops from the end of every chunk, then truncation to ``budget``."""
    total = int(mask.sum())
    if total <= budget:
        return mask, ""
    t = mask.shape[0]
    flat = mask.reshape(-1)
    kept_pos = torch.nonzero(flat).flatten()  # in sequence order (frame-major, cell order)
    chunk = kept_pos // mask.shape[1] // chunk_frames
    n_chunks = ceil_div(t, chunk_frames)
    counts = torch.bincount(chunk, minlength=n_chunks)
    drop = (total - budget) // n_chunks
    # rank of each kept token within its chunk, counted from the chunk's start
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(kept_pos.numel(), device=mask.device) - starts[chunk]
    keep = rank < (counts[chunk] - drop)
    kept_pos = kept_pos[keep]
    note = f"dropped {drop} tokens from the end of each of {n_chunks} chunks"
    if kept_pos.numel() > budget:
        note += f"; truncated {kept_pos.numel()} -> {budget}"
        kept_pos = kept_pos[:budget]
    out = torch.zeros_like(flat)
    out[kept_pos] = True
    return out.reshape(mask.shape), note
