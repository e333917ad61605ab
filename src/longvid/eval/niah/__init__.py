"""V-NIAH, the video needle-in-a-haystack test, on any engine.

Design decisions:
- Pieces, each testable alone: ``grid`` (cells and ``int(depth*N)``), ``needles`` (LongVA's
  ``dataset.json`` plus text, speech, multi-needle and multi-hop sets), ``render`` (needles put
  into a haystack sampled once), ``adapters`` (one small protocol per engine kind), ``runner``
  (resumable loop and scoring) and ``results`` (per-cell JSON, average, heatmap).
- Haystack work is done once per run and reused by every cell; each adapter states what it
  reuses in ``results.json``.
"""

from longvid.eval.niah.adapters import (
    CellOutcome,
    CellTask,
    FeatureEngineAdapter,
    NiahAdapter,
    VideoEngineAdapter,
)
from longvid.eval.niah.grid import NiahGrid, insertion_index
from longvid.eval.niah.needles import Needle, NeedleSet, load_needles, write_generated_needles
from longvid.eval.niah.results import CellResult, ResultStore, plot_heatmap
from longvid.eval.niah.runner import build_question, run_niah, score_cell

__all__ = [
    "CellOutcome",
    "CellResult",
    "CellTask",
    "FeatureEngineAdapter",
    "Needle",
    "NeedleSet",
    "NiahAdapter",
    "NiahGrid",
    "ResultStore",
    "VideoEngineAdapter",
    "build_question",
    "insertion_index",
    "load_needles",
    "plot_heatmap",
    "run_niah",
    "score_cell",
    "write_generated_needles",
]
