"""V-NIAH results: one JSON per cell (resumable), the average, and the heatmap.

Design decisions:
- ``OUT/cells/<frames>_<depth>_<needle>.json`` per finished cell, written atomically: a rerun
  skips cells whose file exists, so an interrupted run resumes where it stopped; cells that
  ended in an error are run again by default.
- ``OUT/settings.json`` pins what the cells were measured with (engine, haystack, grid, scoring);
  resuming with different settings is refused rather than mixing incomparable cells.
- ``OUT/results.json`` holds the settings, per-cell accuracy (mean over needle sets), average
  accuracy, and per-frames/per-depth means; ``OUT/heatmap.png`` shows it (x = frames, y = depth),
  drawn with matplotlib imported only there.
- A cell that failed (engine error) is recorded with its error and counts as wrong.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from longvid.errors import LongvidError


class ResultsMismatchError(LongvidError, ValueError):
    """An output folder holds results measured with other settings."""


@dataclass(frozen=True)
class CellResult:
    frames: int
    depth: float
    needle: str  # needle set id
    correct: bool
    score: float  # 1/0 for single and multihop; recall for multi-needle
    prediction: str = ""
    expected: str = ""
    insert_at: tuple[int, ...] = ()  # frame index (= second at 1 fps) of each needle
    seconds: float = 0.0
    error: str | None = None
    details: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return cell_key(self.frames, self.depth, self.needle)


def cell_key(frames: int, depth: float, needle: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in needle)
    return f"{frames:06d}_{depth:.4f}_{safe}"


def write_json_atomic(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)  # insertion order: grids stay in numeric order
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class ResultStore:
    def __init__(self, out_dir: str | Path, settings: dict) -> None:
        self.root = Path(out_dir)
        self.cells_dir = self.root / "cells"
        self.settings = json.loads(json.dumps(settings))  # normalise tuples -> lists
        path = self.root / "settings.json"
        if path.exists():
            old = json.loads(path.read_text())
            if old != self.settings:
                diff = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
                raise ResultsMismatchError(
                    f"{self.root} holds results measured with other settings (differs in: {', '.join(diff)}); "
                    "use another output folder or delete that one"
                )
        else:
            write_json_atomic(path, self.settings)

    def _path(self, key: str) -> Path:
        return self.cells_dir / f"{key}.json"

    def has(self, frames: int, depth: float, needle: str, *, count_errors: bool = True) -> bool:
        """A result for this cell exists (``count_errors=False``: one without an error)."""
        path = self._path(cell_key(frames, depth, needle))
        if not path.exists():
            return False
        return count_errors or json.loads(path.read_text()).get("error") is None

    def save(self, result: CellResult) -> None:
        write_json_atomic(self._path(result.key), asdict(result))

    def load_all(self) -> list[CellResult]:
        out = []
        for p in sorted(self.cells_dir.glob("*.json")):
            d = json.loads(p.read_text())
            d["insert_at"] = tuple(d.get("insert_at", ()))
            out.append(CellResult(**d))
        return out

    def summarise(self, *, heatmap: bool = True) -> dict:
        summary = summarise(self.load_all())
        summary["settings"] = self.settings
        write_json_atomic(self.root / "results.json", summary)
        if heatmap and summary["cells"]:
            summary["heatmap"] = str(plot_heatmap(summary, self.root / "heatmap.png"))
        return summary


def summarise(results: list[CellResult]) -> dict:
    """Per-cell accuracy (mean score over needle sets), the average, and marginal means."""
    by_cell: dict[tuple[int, float], list[CellResult]] = defaultdict(list)
    for r in results:
        by_cell[(r.frames, r.depth)].append(r)
    cells = []
    for n, d in sorted(by_cell):
        rs = by_cell[(n, d)]
        cells.append(
            {
                "frames": n,
                "depth": d,
                "accuracy": sum(r.score for r in rs) / len(rs),
                "needles": len(rs),
                "errors": sum(1 for r in rs if r.error),
            }
        )

    def marginal(key: str) -> dict[str, float]:
        acc: dict = defaultdict(list)
        for c in cells:
            acc[c[key]].append(c["accuracy"])
        return {str(k): sum(v) / len(v) for k, v in sorted(acc.items())}

    by_needle: dict = defaultdict(list)
    for r in results:
        by_needle[r.needle].append(r.score)
    return {
        "average_accuracy": sum(c["accuracy"] for c in cells) / len(cells) if cells else None,
        "cells": cells,
        "by_frames": marginal("frames"),
        "by_depth": marginal("depth"),
        "by_needle": {k: sum(v) / len(v) for k, v in sorted(by_needle.items())},
        "num_results": len(results),
        "cell_seconds_total": round(sum(r.seconds for r in results), 1),  # engine time over all cells
        "num_errors": sum(1 for r in results if r.error),
    }


def plot_heatmap(summary: dict, path: str | Path, *, title: str | None = None) -> Path:
    """Accuracy heatmap, x = haystack frames, y = needle depth (0% at the top, as LongVA draws it)."""
    from longvid.errors import require

    matplotlib = require("matplotlib", extra="eval")
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LinearSegmentedColormap

    frames = sorted({c["frames"] for c in summary["cells"]})
    depths = sorted({c["depth"] for c in summary["cells"]})
    grid = np.full((len(depths), len(frames)), np.nan)
    for c in summary["cells"]:
        grid[depths.index(c["depth"]), frames.index(c["frames"])] = c["accuracy"]
    cmap = LinearSegmentedColormap.from_list("niah", ["#F0496E", "#EBB839", "#0CD79F"])
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(frames) + 2), max(3.0, 0.5 * len(depths) + 1.5)))
    im = ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(frames)), [str(n) for n in frames], rotation=45 if len(frames) > 8 else 0)
    ax.set_yticks(range(len(depths)), [f"{d * 100:.0f}%" for d in depths])
    ax.set_xlabel("haystack frames")
    ax.set_ylabel("needle depth")
    for i in range(len(depths)):
        for j in range(len(frames)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7)
    avg = summary.get("average_accuracy")
    default = f"V-NIAH accuracy (average {avg:.3f})" if avg is not None else "V-NIAH accuracy"
    ax.set_title(title or default)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
