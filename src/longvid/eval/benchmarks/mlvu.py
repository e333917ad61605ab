"""MLVU (dev set, multiple-choice tasks), as its authors publish it.

Files under ROOT: ``json/<k>_<task>.json`` (lists of {video, duration, question, candidates,
answer (the text of the right candidate), question_type}); videos at
``video/<k>_<task>/<video>``. The two open-ended tasks (``8_sub_scene``, ``9_summary``) need a
GPT judge and are left out. Accuracy per question type (the paper's M-avg is their mean).
"""

from __future__ import annotations

from pathlib import Path

from longvid.errors import LongvidError
from longvid.eval.benchmarks.base import (
    BENCHMARKS,
    BenchmarkFilesError,
    BenchmarkItem,
    MultipleChoiceBenchmark,
    letter_of,
    read_json_or_jsonl,
)

PUBLISHED = "huggingface.co/datasets/MLVU/MVLU: MLVU/json/*.json and MLVU/video/<task>/"
OPEN_ENDED = ("sub_scene", "summary")


@BENCHMARKS.register("mlvu")
class MLVU(MultipleChoiceBenchmark):
    name = "mlvu"
    instruction = "Only give the best option."

    def prompt(self, item: BenchmarkItem) -> str:
        opts = "\n".join(f"({chr(65 + i)}) {o}" for i, o in enumerate(item.options))
        return f"Question: {item.question}\nOptions:\n{opts}\n{self.instruction}"

    def load(
        self, root: str | Path, *, subtitles: bool = False, limit: int | None = None
    ) -> list[BenchmarkItem]:
        root = Path(root)
        jdir = root / "json" if (root / "json").is_dir() else root / "MLVU" / "json"
        files = sorted(p for p in jdir.glob("*.json") if not any(t in p.stem for t in OPEN_ENDED))
        if not files:
            raise BenchmarkFilesError(
                f"mlvu: no task files in {jdir}. Put the published json/ folder there "
                f"({PUBLISHED}); longvid does not download benchmarks."
            )
        items: list[BenchmarkItem] = []
        for f in files:
            for i, r in enumerate(read_json_or_jsonl(f)):
                options = tuple(str(c) for c in r["candidates"])
                where = f"{f} item {i}"
                if r["answer"] not in r["candidates"]:
                    raise LongvidError(f"{where}: answer {r['answer']!r} is not one of the candidates")
                items.append(
                    BenchmarkItem(
                        id=f"{f.stem}/{i}",
                        video=str((jdir.parent / "video" / f.stem / r["video"]).resolve()),
                        question=str(r["question"]).strip(),
                        options=options,
                        answer=letter_of(list(r["candidates"]).index(r["answer"]), len(options), where),
                        category=str(r.get("question_type", f.stem.split("_", 1)[-1])),
                        extra={"duration": r.get("duration")},
                    )
                )
        return items[:limit] if limit else items
