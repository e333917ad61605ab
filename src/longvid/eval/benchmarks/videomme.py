"""Video-MME (with and without subtitles), as lmms-lab publishes it.

Files under ROOT: ``videomme/test-00000-of-00001.parquet`` (columns video_id, duration, domain,
sub_category, url, videoID, question_id, task_type, question, options ["A. ...", ...], answer
"A".."D"), videos at ``data/<videoID>.mp4``, subtitles at ``subtitle/<videoID>.srt``.
Accuracy is reported per task type, per duration (short/medium/long) and per domain.
Prompt: the official one ("Select the best answer ... The best answer is:"); with subtitles,
the subtitle text comes first, as in the official "w/ subs" setting.
"""

from __future__ import annotations

from pathlib import Path

from longvid.errors import require
from longvid.eval.benchmarks.base import (
    BENCHMARKS,
    BenchmarkItem,
    MultipleChoiceBenchmark,
    need_file,
    read_srt,
)

PUBLISHED = (
    "huggingface.co/datasets/lmms-lab/Video-MME: videomme/test-00000-of-00001.parquet, data/, subtitle/"
)


@BENCHMARKS.register("videomme")
class VideoMME(MultipleChoiceBenchmark):
    name = "videomme"
    instruction = "The best answer is:"

    def prompt(self, item: BenchmarkItem) -> str:
        head = (
            "Select the best answer to the following multiple-choice question based on the video. "
            "Respond with only the letter (A, B, C, or D) of the correct option."
        )
        subs = f"This video's subtitles are listed below:\n{item.subtitles}\n" if item.subtitles else ""
        return f"{subs}{head}\n{item.question}\n" + "\n".join(item.options) + f"\n{self.instruction}"

    def summary_keys(self) -> tuple[str, ...]:
        return ("category", "duration", "domain")

    def load(
        self, root: str | Path, *, subtitles: bool = False, limit: int | None = None
    ) -> list[BenchmarkItem]:
        root = Path(root)
        files = sorted((root / "videomme").glob("test-*.parquet")) or sorted(root.glob("*.parquet"))
        if not files:
            need_file(root / "videomme" / "test-00000-of-00001.parquet", self.name, PUBLISHED)
        pq = require("pyarrow.parquet", extra="eval", package="pyarrow")
        rows = [r for f in files for r in pq.read_table(f).to_pylist()]
        items = []
        for r in rows[:limit] if limit else rows:
            vid = r["videoID"]
            subs = None
            if subtitles:
                srt = root / "subtitle" / f"{vid}.srt"
                # Many Video-MME videos have no speech: no subtitle file means no subtitles.
                subs = read_srt(srt) if srt.is_file() else ""
            options = tuple(str(o).strip() for o in r["options"])
            items.append(
                BenchmarkItem(
                    id=str(r["question_id"]),
                    video=str((root / "data" / f"{vid}.mp4").resolve()),
                    question=str(r["question"]).strip(),
                    options=options,
                    answer=str(r["answer"]).strip().upper(),
                    category=str(r["task_type"]),
                    subtitles=subs,
                    extra={
                        "duration": r.get("duration"),
                        "domain": r.get("domain"),
                        "sub_category": r.get("sub_category"),
                        "video_id": r.get("video_id"),
                    },
                )
            )
        return items
