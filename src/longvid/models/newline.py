"""Row-end tokens: a learned ``image_newline`` embedding after each row of each frame.

Design decisions:
- Newlines are added after compression, after the last surviving token of every (frame, row) run,
  using the provenance the compressor recorded (``cells`` on ``cell_grids``). A compressed frame
  thus still reads row by row, as the released LongVU model was trained.
- The compressor is asked for ``budget - newlines``; the newline count depends on what it keeps,
  so the budget is shrunk and the call repeated until tokens plus newlines fit (a few rounds at
  most: fewer tokens never need more rows). Token counts always come from the compressor's output.
- A newline token carries its row's frame index and timestamp and cell -1 (it is no single cell).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from longvid.errors import BudgetError
from longvid.types import VisualTokens


def row_ends(vt: VisualTokens) -> torch.Tensor:
    """Bool ``(M,)``: token i is the last of its (frame, row) run."""
    m = len(vt)
    if m == 0:
        return torch.zeros(0, dtype=torch.bool)
    widths = vt.cell_grids[:, 1] if getattr(vt, "cell_grids", None) is not None else None
    if widths is None:
        raise ValueError("the compressor did not record cell grids; rows cannot be found")
    rows = torch.where(vt.cells >= 0, vt.cells // widths.clamp(min=1), -1)
    key_f, key_r = vt.frame_indices, rows
    change = torch.ones(m, dtype=torch.bool)
    change[:-1] = (key_f[1:] != key_f[:-1]) | (key_r[1:] != key_r[:-1]) | (widths[1:] != widths[:-1])
    return change


def add_newlines(vt: VisualTokens, newline: torch.Tensor) -> VisualTokens:
    """Insert ``newline`` (D,) after every row end of ``vt``."""
    ends = row_ends(vt)
    m = len(vt)
    # position of each original token in the output: shifted by the newlines before it
    shift = torch.cumsum(ends.long(), 0) - ends.long()
    pos = torch.arange(m) + shift
    total = m + int(ends.sum())
    nl_pos = pos[ends] + 1
    dev = vt.tokens.device
    tokens = torch.empty(total, vt.tokens.shape[1], dtype=vt.tokens.dtype, device=dev)
    tokens[pos.to(dev)] = vt.tokens
    tokens[nl_pos.to(dev)] = newline.to(dtype=vt.tokens.dtype, device=dev)

    def spread(src: torch.Tensor, fill_from_row: bool, fill=-1) -> torch.Tensor:
        out = torch.empty(total, *src.shape[1:], dtype=src.dtype)
        out[pos] = src
        out[nl_pos] = src[ends] if fill_from_row else torch.full_like(src[ends], fill)
        return out

    return VisualTokens(
        tokens=tokens,
        frame_indices=spread(vt.frame_indices, True),
        timestamps_s=spread(vt.timestamps_s, True),
        cells=spread(vt.cells, False),
        stats=vt.stats,
        cell_grids=spread(vt.cell_grids, True) if vt.cell_grids is not None else None,
    )


def fit_with_newlines(compress: Callable[[int], VisualTokens], newline: torch.Tensor, budget: int,
                      *, max_rounds: int = 6) -> VisualTokens:
    """Call ``compress(b)`` with shrinking ``b`` until its tokens plus newlines fit ``budget``."""
    b = budget
    for _ in range(max_rounds):
        vt = compress(b)
        n_nl = int(row_ends(vt).sum())
        if len(vt) + n_nl <= budget:
            return add_newlines(vt, newline)
        b = min(b - 1, budget - n_nl)
        if b < 1:
            break
    raise BudgetError(f"cannot fit visual tokens and their row newlines in {budget} tokens; "
                      "raise the context length or shorten the prompt")
