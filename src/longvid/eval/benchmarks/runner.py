"""Run an engine over a benchmark and write a results JSON with the exact settings.

Design decisions:
- One record per item in ``OUT/predictions.jsonl``, appended as each item finishes: a rerun with
  the same settings skips the items already there (resume); other settings are refused.
- A missing video is recorded as that item's error and counted wrong; an engine failure on one
  item is recorded the same way. Nothing is ever answered from a made-up frame.
- ``OUT/results.json``: settings (benchmark, folder, subtitles, limit, engine and its options,
  the prompt of the first item, longvid version), overall accuracy, per-category accuracy
  (and per the benchmark's other published groupings), and VNBench's grouped accuracy.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from longvid.eval.benchmarks import BENCHMARKS
from longvid.eval.benchmarks.base import BenchmarkItem
from longvid.eval.niah.results import ResultsMismatchError, write_json_atomic
from longvid.eval.scoring import accuracy_by, extract_choice_letter

logger = logging.getLogger(__name__)


def _settings(bench, root, subtitles, limit, engine_name, engine_options, items) -> dict:
    from longvid import __version__

    return {
        "benchmark": bench.name,
        "root": str(Path(root).resolve()),
        "subtitles": subtitles,
        "limit": limit,
        "engine": engine_name,
        "engine_options": engine_options,
        "num_items": len(items),
        "prompt_example": bench.prompt(items[0]) if items else None,
        "longvid_version": __version__,
    }


def run_benchmark(
    engine: Any,
    benchmark: str,
    root: str | Path,
    out_dir: str | Path,
    *,
    subtitles: bool = False,
    limit: int | None = None,
    engine_options: dict | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
) -> dict:
    bench = BENCHMARKS.create(benchmark)
    items: list[BenchmarkItem] = bench.load(root, subtitles=subtitles, limit=limit)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = _settings(
        bench,
        root,
        subtitles,
        limit,
        getattr(engine, "name", type(engine).__name__),
        engine_options or {},
        items,
    )
    settings_path = out / "settings.json"
    if settings_path.exists():
        old = json.loads(settings_path.read_text())
        if old != json.loads(json.dumps(settings)):
            raise ResultsMismatchError(f"{out} holds predictions made with other settings; use another --out")
    else:
        write_json_atomic(settings_path, settings)
    pred_path = out / "predictions.jsonl"
    records = {}
    if pred_path.exists():
        for line in pred_path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                records[r["id"]] = r
    with pred_path.open("a") as f:
        for i, item in enumerate(items):
            if item.id in records:
                continue
            rec = {
                "id": item.id,
                "category": item.category,
                "group": item.group,
                "answer": item.answer,
                "video": item.video,
                **{k: v for k, v in item.extra.items() if k not in ("id", "answer")},
            }
            t = time.perf_counter()
            if not Path(item.video).is_file():
                rec.update(
                    prediction="",
                    letter=None,
                    correct=False,
                    error=f"video not found: {item.video} (put the benchmark's videos there)",
                )
            else:
                try:
                    answer = engine.ask(item.video, bench.prompt(item))
                    letter = extract_choice_letter(
                        answer.text, num_options=len(item.options), options=item.options
                    )
                    rec.update(
                        prediction=answer.text,
                        letter=letter,
                        correct=bench.score(item, answer.text),
                        error=None,
                    )
                except Exception as exc:  # recorded for this item; the run goes on
                    logger.exception("item %s failed", item.id)
                    rec.update(
                        prediction="", letter=None, correct=False, error=f"{type(exc).__name__}: {exc}"
                    )
            rec["seconds"] = round(time.perf_counter() - t, 3)
            records[item.id] = rec
            f.write(json.dumps(rec) + "\n")
            f.flush()
            if progress:
                progress(i + 1, len(items), rec)
    results = summarise(bench, [records[it.id] for it in items])
    results["settings"] = settings
    write_json_atomic(out / "results.json", results)
    return results


def summarise(bench, records: list[dict]) -> dict:
    n = len(records)
    out = {
        "accuracy": sum(r["correct"] for r in records) / n if n else None,
        "correct": sum(r["correct"] for r in records),
        "total": n,
        "errors": sum(1 for r in records if r.get("error")),
        "unanswered": sum(1 for r in records if not r.get("error") and r.get("letter") is None),
        "by": {key: accuracy_by(records, key) for key in bench.summary_keys()},
    }
    if getattr(bench, "grouped", False):
        groups: dict[tuple[str, str], list[bool]] = defaultdict(list)
        for r in records:
            groups[(r["category"], r["group"])].append(bool(r["correct"]))
        per_cat: dict[str, list[bool]] = defaultdict(list)
        for (cat, _), oks in groups.items():
            per_cat[cat].append(all(oks))
        out["grouped_accuracy"] = {c: sum(v) / len(v) for c, v in sorted(per_cat.items())}
        out["grouped_overall"] = sum(all(v) for v in groups.values()) / len(groups) if groups else None
    return out
