"""Run V-NIAH: every needle set in every grid cell, scored, saved per cell, summarised.

Design decisions:
- Resumable: a cell whose JSON exists is skipped (see ``results.ResultStore``); the settings that
  change what a cell means are pinned, the grid is not, so a rerun can add frames or depths.
- The question asked is the needle's prompt plus an instruction; multiple-choice sets end with
  Video-XL's "Best option:(" and are read by letter. Teacher-forced adapters are scored by
  their exact-match flag; everything else by answer matching (multi-needle: recall).
- An engine failure in one cell is recorded in that cell (counted wrong) and the run goes on;
  progress goes to a callback, never to stdout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from longvid.eval.niah.adapters import CellOutcome, CellTask, NiahAdapter
from longvid.eval.niah.grid import NiahGrid, insertion_index, needle_depths
from longvid.eval.niah.needles import NeedleSet
from longvid.eval.niah.render import Placement
from longvid.eval.niah.results import CellResult, ResultStore, plot_heatmap, summarise, write_json_atomic
from longvid.eval.scoring import answer_matches, extract_choice_letter, format_options, score_multi_needle

logger = logging.getLogger(__name__)

SHORT_ANSWER = "Answer the question using a single word or phrase."
CHOICE_ANSWER = "Answer with the option's letter from the given choices directly.\nBest option:("


def build_question(ns: NeedleSet, instruction: str = SHORT_ANSWER) -> str:
    """The question as asked: LongVA's short-answer postprompt by default; multiple choice ends with
    Video-XL's "Best option:("; ``instruction=""`` leaves the answer format to the engine."""
    if ns.options:
        return f"{ns.question}\n{format_options(ns.options)}\n{CHOICE_ANSWER}"
    if ns.mode == "multi":
        return f"{ns.question} Give every one of them."
    return f"{ns.question}\n{instruction}" if instruction else ns.question


def placements_for(ns: NeedleSet, frames: int, depth: float) -> tuple[Placement, ...]:
    """Where each needle of the set goes: ``int(depth * N)`` for one needle (LongVA).

    Several needles never share a frame (one would hide another): they stay inside the haystack
    (index <= N-1) and, where the spread collides near the end, earlier ones step back a frame.
    """
    idx = [insertion_index(d, frames) for d in needle_depths(depth, len(ns.needles))]
    if len(idx) > 1:
        assert frames >= len(idx), (frames, len(idx))
        for i in range(len(idx) - 1, -1, -1):
            idx[i] = min(idx[i], frames - 1 if i == len(idx) - 1 else idx[i + 1] - 1)
    return tuple(Placement(i, n) for i, n in zip(idx, ns.needles, strict=True))


@dataclass(frozen=True)
class CellScore:
    correct: bool  # the cell counts as recalled
    score: float  # in [0, 1]: 0/1, or the recall of a multi-needle set


def score_cell(ns: NeedleSet, outcome: CellOutcome) -> CellScore:
    if outcome.greedy_match is not None:
        return CellScore(outcome.greedy_match, float(outcome.greedy_match))
    if ns.options:
        letter = extract_choice_letter(outcome.prediction, num_options=len(ns.options), options=ns.options)
        ok = letter == ns.answer.upper()
        return CellScore(ok, float(ok))
    if ns.mode == "multi":
        s = score_multi_needle(outcome.prediction, ns.answers)
        return CellScore(s.all_found, s.recall)
    ok = answer_matches(outcome.prediction, ns.answer)
    return CellScore(ok, float(ok))


def run_niah(
    adapter: NiahAdapter,
    haystack: str | Path,
    needle_sets: list[NeedleSet],
    grid: NiahGrid,
    out_dir: str | Path,
    *,
    progress: Callable[[int, int, CellResult | None], None] | None = None,
    heatmap: bool = True,
    retry_errors: bool = True,
) -> dict:
    """Run (or resume) the grid; return the summary written to ``out_dir/results.json``."""
    out = Path(out_dir)
    settings = {
        "haystack": str(Path(haystack).resolve()),
        # the grid's cells are not pinned (each cell file names its own): a rerun may add cells
        "fps": grid.fps,
        "needles": [
            {
                "id": ns.id,
                "mode": ns.mode,
                "kinds": [n.kind for n in ns.needles],
                "question": ns.question,
                "answer": ns.answer,
                "options": list(ns.options),
            }
            for ns in needle_sets
        ],
        "scoring": adapter.scoring,
        "instruction": getattr(adapter, "instruction", SHORT_ANSWER),  # an adapter may set its own
        "adapter": adapter.describe(),
    }
    t_run = time.perf_counter()
    store = ResultStore(out, settings)
    # cell by cell, every needle set in each: a run stopped early still covers whole cells
    instruction = getattr(adapter, "instruction", SHORT_ANSWER)
    todo = [
        CellTask(
            frames=n,
            depth=d,
            needle_set=ns,
            placements=placements_for(ns, n, d),
            question=build_question(ns, instruction),
        )
        for n, d in grid.cells()
        for ns in needle_sets
        if not store.has(n, d, ns.id, count_errors=not retry_errors)
    ]
    total = len(needle_sets) * len(grid.cells())
    logger.info("V-NIAH: %d of %d cells to run", len(todo), total)
    if todo:
        t0 = time.perf_counter()
        adapter.prepare(haystack, grid, needle_sets, out / "work")
        logger.info("prepared in %.1f s", time.perf_counter() - t0)
    done = total - len(todo)
    for task in todo:
        ns = task.needle_set
        t = time.perf_counter()
        try:
            outcome = adapter.run_cell(task)
            scored = score_cell(ns, outcome)
            error = None
        except Exception as exc:  # one failing cell must not lose the others; it is recorded
            logger.exception("cell frames=%d depth=%.2f needle=%s failed", task.frames, task.depth, ns.id)
            outcome, scored, error = CellOutcome(), CellScore(False, 0.0), f"{type(exc).__name__}: {exc}"
        result = CellResult(
            frames=task.frames,
            depth=task.depth,
            needle=ns.id,
            correct=scored.correct,
            score=scored.score,
            prediction=outcome.prediction,
            expected=ns.answer,
            insert_at=tuple(p.index for p in task.placements),
            seconds=round(time.perf_counter() - t, 3),
            error=error,
            details=outcome.details,
        )
        store.save(result)
        done += 1
        if progress:
            progress(done, total, result)
    summary = store.summarise(heatmap=False)
    summary["this_run"] = {"cells_run": len(todo), "seconds": round(time.perf_counter() - t_run, 1)}
    write_json_atomic(out / "results.json", summary)
    if heatmap and summary["cells"]:
        summary["heatmap"] = str(plot_heatmap(summary, out / "heatmap.png"))
        results = store.load_all()
        ids = sorted({r.needle for r in results})
        if len(ids) > 1:  # one map per needle set too: text and speech fail differently
            for nid in ids:
                part = summarise([r for r in results if r.needle == nid])
                plot_heatmap(
                    part,
                    out / f"heatmap_{nid}.png",
                    title=f"V-NIAH {nid} (average {part['average_accuracy']:.3f})",
                )
    return summary
