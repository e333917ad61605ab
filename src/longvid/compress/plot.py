"""Draw what a compression kept: a timeline of frames and the tokens each one got.

Design decisions:
- Input: the ``VisualTokens`` a compressor returned plus the input frame count (frame indices
  ``0..n-1``) or the explicit input frame indices; everything else is read from the tokens'
  provenance, so any strategy can be drawn.
- Each input frame gets one class: dropped (no token), summary (only whole-frame tokens, cell
  -1), low resolution (its tokens sit on a coarser grid than the finest in the output) or high
  resolution. STC-pruned frames keep their class and simply show fewer tokens in the lower panel.
- matplotlib is optional (extra ``plot``) and imported lazily; the figure is drawn with the
  object API on an Agg canvas, so nothing global (backend, rcParams) is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from longvid.errors import InvalidFeaturesError, require
from longvid.types import VisualTokens

CLASSES = ("dropped", "summary", "low-res", "high-res")
COLOURS = ("#d9d9d9", "#9e7bb5", "#6baed6", "#08519c")


def frame_classes(tokens: VisualTokens, frame_indices: Sequence[int]) -> tuple[list[int], list[int]]:
    """Per input frame: class number (index into ``CLASSES``) and token count."""
    counts = tokens.tokens_per_frame()
    area = {}
    if tokens.cell_grids is not None and len(tokens):
        a = tokens.cell_grids[:, 0] * tokens.cell_grids[:, 1]
        single = tokens.cells >= 0
        for f, ar in zip(tokens.frame_indices[single].tolist(), a[single].tolist()):
            area[f] = max(area.get(f, 0), ar)
    finest = max(area.values(), default=0)
    classes = []
    for f in frame_indices:
        if counts.get(f, 0) == 0:
            classes.append(0)
        elif f not in area:
            classes.append(1)
        else:
            classes.append(3 if area[f] == finest else 2)
    return classes, [counts.get(f, 0) for f in frame_indices]


def plot_timeline(
    tokens: VisualTokens,
    path: str | Path,
    *,
    num_frames: int | None = None,
    frame_indices: Sequence[int] | torch.Tensor | None = None,
    title: str | None = None,
) -> Path:
    """Save a PNG timeline of ``tokens`` over the input frames; returns the path written."""
    if frame_indices is None:
        if num_frames is None or num_frames < 1:
            raise InvalidFeaturesError("give num_frames (>= 1) or the input frame_indices to draw the timeline")
        frame_indices = range(num_frames)
    idx = [int(i) for i in (frame_indices.tolist() if isinstance(frame_indices, torch.Tensor) else frame_indices)]
    missing = set(tokens.frame_indices.tolist()) - set(idx)
    if missing:
        raise InvalidFeaturesError(
            f"tokens come from frames {sorted(missing)[:5]}... not among the input frames; pass the input frame_indices")
    require("matplotlib", extra="plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    classes, counts = frame_classes(tokens, idx)
    fig = Figure(figsize=(12, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 3]})
    x = list(range(len(idx)))
    top.imshow([classes], aspect="auto", cmap=ListedColormap(COLOURS), vmin=-0.5, vmax=len(CLASSES) - 0.5,
               interpolation="nearest", extent=(-0.5, len(idx) - 0.5, 0, 1))
    top.set_yticks([])
    top.set_title(title or f"{len(tokens)} tokens from {sum(c > 0 for c in classes)} of {len(idx)} frames")
    bar_colours = [COLOURS[c] for c in classes]
    bottom.bar(x, counts, width=1.0, color=bar_colours, linewidth=0)
    bottom.set_ylabel("tokens")
    bottom.set_xlabel("input frame")
    bottom.set_xlim(-0.5, len(idx) - 0.5)
    n_each = [classes.count(i) for i in range(len(CLASSES))]
    fig.legend(handles=[Patch(color=COLOURS[i], label=f"{CLASSES[i]} ({n_each[i]})") for i in range(len(CLASSES))],
               loc="lower center", fontsize=8, ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # room for the legend under the axes, clear of the bars
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
