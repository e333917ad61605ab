"""VNBench (video needle benchmark), as its authors publish it.

Files under ROOT: ``VNBench_new.json`` or any single ``*.json``/``*.jsonl`` annotation file there
(list of {video, question, options [4 texts], gt (the right option's text, or its index),
type (e.g. "ret_insert1", "ord_edit2", "cnt_level1"), try (0..3), question_id?}); ``video``
is a path relative to ROOT (or absolute). Each question appears in four option orders ("try");
VNBench counts it right only when all four are right: reported as ``grouped_accuracy`` per type
next to the plain per-item accuracy.
"""

from __future__ import annotations

import re
from pathlib import Path

from longvid.eval.benchmarks.base import (
    BENCHMARKS,
    BenchmarkFilesError,
    BenchmarkItem,
    MultipleChoiceBenchmark,
    letter_of,
    read_json_or_jsonl,
)

PUBLISHED = "huggingface.co/datasets/Joez1717/VNBench (annotation json) + the authors' video archive"


@BENCHMARKS.register("vnbench")
class VNBench(MultipleChoiceBenchmark):
    name = "vnbench"
    grouped = True  # a question counts only if all its option orders are right

    def load(
        self, root: str | Path, *, subtitles: bool = False, limit: int | None = None
    ) -> list[BenchmarkItem]:
        root = Path(root)
        files = (
            [root / "VNBench_new.json"]
            if (root / "VNBench_new.json").is_file()
            else sorted([*root.glob("*.json"), *root.glob("*.jsonl")])
        )
        if len(files) != 1:
            raise BenchmarkFilesError(
                f"vnbench: expected one annotation file (VNBench_new.json) in {root}, found "
                f"{[f.name for f in files] or 'none'}. Put the published file there ({PUBLISHED}); "
                "longvid does not download benchmarks."
            )
        items = []
        for i, r in enumerate(read_json_or_jsonl(files[0])):
            options = tuple(str(o) for o in r["options"])
            gt = r["gt"]
            idx = int(gt) if isinstance(gt, int) else options.index(str(gt))
            video = Path(r["video"])
            video = video if video.is_absolute() else root / video
            qid = str(r.get("question_id", f"{r['video']}|{r['question']}|{r.get('try', 0)}"))
            # question_id ends with the option-order index ("..._2"); the group drops it
            group = re.sub(r"_\d+$", "", qid) if "question_id" in r else f"{r['video']}|{r['question']}"
            items.append(
                BenchmarkItem(
                    id=qid,
                    video=str(video.resolve()),
                    question=str(r["question"]).strip(),
                    options=options,
                    answer=letter_of(idx, len(options), f"{files[0].name} item {i}"),
                    category=str(r.get("type", "")),
                    group=group,
                    extra={"try": r.get("try")},
                )
            )
        return items[:limit] if limit else items
