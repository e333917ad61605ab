"""EgoSchema, the subset whose answers are public (500 questions).

Files under ROOT: ``questions.json`` (list of {q_uid, question, "option 0".."option 4", ...}) and
``subset_answers.json`` ({q_uid: answer index}); videos at ``videos/<q_uid>.mp4`` (or in
``good_clips_git/``, the folder name of the authors' video archive). Only
questions listed in ``subset_answers.json`` are loaded (the rest are scored by the authors'
server). One category: the benchmark has no question types.
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
)

PUBLISHED = "github.com/egoschema/EgoSchema: questions.json, subset_answers.json, videos/"


@BENCHMARKS.register("egoschema")
class EgoSchema(MultipleChoiceBenchmark):
    name = "egoschema"

    def load(
        self, root: str | Path, *, subtitles: bool = False, limit: int | None = None
    ) -> list[BenchmarkItem]:
        root = Path(root)
        questions = json.loads(need_file(root / "questions.json", self.name, PUBLISHED).read_text())
        answers = json.loads(need_file(root / "subset_answers.json", self.name, PUBLISHED).read_text())
        video_dir = root / "videos"
        if not video_dir.is_dir() and (root / "good_clips_git").is_dir():
            video_dir = root / "good_clips_git"
        items = []
        for q in questions:
            uid = q["q_uid"]
            if uid not in answers:
                continue
            options = tuple(str(q[f"option {k}"]) for k in range(5) if f"option {k}" in q)
            items.append(
                BenchmarkItem(
                    id=uid,
                    video=str((video_dir / f"{uid}.mp4").resolve()),
                    question=str(q["question"]).strip(),
                    options=options,
                    answer=letter_of(int(answers[uid]), len(options), f"subset_answers.json {uid}"),
                    category="egoschema",
                )
            )
            if limit and len(items) >= limit:
                break
        return items
