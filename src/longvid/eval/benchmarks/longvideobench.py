"""LongVideoBench (validation set), as its authors publish it.

Files under ROOT: ``lvb_val.json`` (list of {id, video_id, video_path, subtitle_path, question,
candidates, correct_choice (index), question_category, duration_group, duration, ...}), videos at
``videos/<video_path>``, subtitles at ``subtitles/<subtitle_path>`` (JSON cues with "line" or
"text"). Accuracy per question category and per duration group.
"""

from __future__ import annotations

import json
from pathlib import Path

from longvid.eval.benchmarks.base import (
    BENCHMARKS,
    BenchmarkItem,
    MultipleChoiceBenchmark,
    letter_of,
    need_file,
    read_json_or_jsonl,
    read_srt,
)

PUBLISHED = "huggingface.co/datasets/longvideobench/LongVideoBench: lvb_val.json, videos/, subtitles/"


def _subtitle_text(path: Path) -> str:
    if not path.is_file():
        return ""
    if path.suffix == ".srt":
        return read_srt(path)
    cues = json.loads(path.read_text())
    return "\n".join(str(c.get("line", c.get("text", ""))).strip() for c in cues if isinstance(c, dict))


@BENCHMARKS.register("longvideobench")
class LongVideoBench(MultipleChoiceBenchmark):
    name = "longvideobench"

    def summary_keys(self) -> tuple[str, ...]:
        return ("category", "duration_group")

    def load(
        self, root: str | Path, *, subtitles: bool = False, limit: int | None = None
    ) -> list[BenchmarkItem]:
        root = Path(root)
        rows = read_json_or_jsonl(need_file(root / "lvb_val.json", self.name, PUBLISHED))
        items = []
        for i, r in enumerate(rows[:limit] if limit else rows):
            options = tuple(str(c) for c in r["candidates"])
            subs = (
                _subtitle_text(root / "subtitles" / r["subtitle_path"])
                if subtitles and r.get("subtitle_path")
                else None
            )
            items.append(
                BenchmarkItem(
                    id=str(r.get("id", i)),
                    video=str((root / "videos" / r["video_path"]).resolve()),
                    question=str(r["question"]).strip(),
                    options=options,
                    answer=letter_of(int(r["correct_choice"]), len(options), f"lvb_val.json item {i}"),
                    category=str(r.get("question_category", "")),
                    subtitles=subs,
                    extra={
                        "duration_group": r.get("duration_group"),
                        "duration": r.get("duration"),
                        "video_id": r.get("video_id"),
                    },
                )
            )
        return items
