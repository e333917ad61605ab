"""Benchmark loaders on tiny fixture files in each published format, and the runner."""

import json
import shutil

import pytest

from longvid.eval.benchmarks import BENCHMARKS, BenchmarkFilesError
from longvid.eval.benchmarks.runner import run_benchmark
from longvid.eval.haystack import packaged_clips
from longvid.eval.niah.results import ResultsMismatchError
from longvid.types import Answer


def _clip():
    return next(c for c in packaged_clips() if c.name == "carphone_pristine.mp4")


class LetterEngine:
    """Answers every question with one fixed option, after checking it was given a real video."""

    name = "letter"

    def __init__(self, letter="B"):
        self.letter = letter
        self.seen = []

    def ask(self, video, question):
        with open(video, "rb") as f:
            assert f.read(12)[4:8] == b"ftyp"  # a real MP4 reached the engine
        self.seen.append((video, question))
        return Answer(
            question=question,
            text=f"Best option: ({self.letter})",
            evidence=(),
            grounded=False,
            engine=self.name,
        )


# ----------------------------------------------------------------------------- fixtures
def make_videomme(root):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "video_id": "001",
            "duration": "short",
            "domain": "Knowledge",
            "sub_category": "Humanity",
            "url": "u",
            "videoID": "vidA",
            "question_id": "001-1",
            "task_type": "Counting Problem",
            "question": "How many?",
            "options": ["A. 1", "B. 2", "C. 3", "D. 4"],
            "answer": "B",
        },
        {
            "video_id": "001",
            "duration": "short",
            "domain": "Knowledge",
            "sub_category": "Humanity",
            "url": "u",
            "videoID": "vidA",
            "question_id": "001-2",
            "task_type": "OCR Problems",
            "question": "What text?",
            "options": ["A. x", "B. y", "C. z", "D. w"],
            "answer": "C",
        },
        {
            "video_id": "002",
            "duration": "long",
            "domain": "Sports",
            "sub_category": "Football",
            "url": "u",
            "videoID": "vidMissing",
            "question_id": "002-1",
            "task_type": "Counting Problem",
            "question": "Who?",
            "options": ["A. a", "B. b", "C. c", "D. d"],
            "answer": "B",
        },
    ]
    (root / "videomme").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "videomme" / "test-00000-of-00001.parquet")
    (root / "data").mkdir()
    shutil.copy(_clip(), root / "data" / "vidA.mp4")
    (root / "subtitle").mkdir()
    (root / "subtitle" / "vidA.srt").write_text(
        "1\n00:00:00,000 --> 00:00:02,000\n<i>Hello there</i>\n\n2\n00:00:02,500 --> 00:00:04,000\nGeneral Kenobi\n"
    )


def make_mlvu(root):
    (root / "json").mkdir(parents=True)
    (root / "json" / "2_needle.json").write_text(
        json.dumps(
            [
                {
                    "video": "n1.mp4",
                    "duration": 400,
                    "question": "What appears?",
                    "candidates": ["cat", "dog", "car", "sun"],
                    "answer": "dog",
                    "question_type": "findNeedle",
                }
            ]
        )
    )
    (root / "json" / "4_count.json").write_text(
        json.dumps(
            [
                {
                    "video": "c1.mp4",
                    "duration": 500,
                    "question": "How many jumps?",
                    "candidates": ["1", "2", "3", "4"],
                    "answer": "1",
                    "question_type": "count",
                }
            ]
        )
    )
    (root / "json" / "9_summary.json").write_text(
        json.dumps(
            [{"video": "s.mp4", "question": "Summarise", "answer": "free text", "question_type": "summary"}]
        )
    )
    (root / "video" / "2_needle").mkdir(parents=True)
    (root / "video" / "4_count").mkdir(parents=True)
    shutil.copy(_clip(), root / "video" / "2_needle" / "n1.mp4")
    shutil.copy(_clip(), root / "video" / "4_count" / "c1.mp4")


def make_lvb(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "lvb_val.json").write_text(
        json.dumps(
            [
                {
                    "id": "q1",
                    "video_id": "v1",
                    "video_path": "v1.mp4",
                    "subtitle_path": "v1_en.json",
                    "question": "What?",
                    "candidates": ["w", "x", "y", "z", "q"],
                    "correct_choice": 1,
                    "question_category": "S2E",
                    "duration_group": 600,
                    "duration": 500.0,
                },
                {
                    "id": "q2",
                    "video_id": "v1",
                    "video_path": "v1.mp4",
                    "subtitle_path": "v1_en.json",
                    "question": "Who?",
                    "candidates": ["w", "x", "y"],
                    "correct_choice": 0,
                    "question_category": "T3O",
                    "duration_group": 15,
                    "duration": 12.0,
                },
            ]
        )
    )
    (root / "videos").mkdir()
    shutil.copy(_clip(), root / "videos" / "v1.mp4")
    (root / "subtitles").mkdir()
    (root / "subtitles" / "v1_en.json").write_text(json.dumps([{"start": 0, "end": 1, "line": "hi there"}]))


def make_egoschema(root):
    root.mkdir(parents=True, exist_ok=True)
    q = [
        {
            "q_uid": f"u{i}",
            "google_drive_id": "x",
            "question": f"Q{i}?",
            **{f"option {k}": f"opt{k}" for k in range(5)},
        }
        for i in range(3)
    ]
    (root / "questions.json").write_text(json.dumps(q))
    (root / "subset_answers.json").write_text(json.dumps({"u0": 1, "u2": 4}))  # u1 has no public answer
    (root / "videos").mkdir()
    for uid in ("u0", "u2"):
        shutil.copy(_clip(), root / "videos" / f"{uid}.mp4")


def make_vnbench(root):
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in range(4):  # one question in four option orders
        opts = ["red", "blue", "green", "pink"]
        opts = opts[t:] + opts[:t]
        rows.append(
            {
                "video": "vids/v1.mp4",
                "question": "What colour?",
                "options": opts,
                "gt": "blue",
                "type": "ret_insert1",
                "try": t,
                "question_id": f"ret_v1_{t}",
            }
        )
    rows.append(
        {
            "video": "vids/v1.mp4",
            "question": "Count?",
            "options": ["1", "2", "3", "4"],
            "gt": 1,
            "type": "cnt_level1",
            "try": 0,
            "question_id": "cnt_v1_0",
        }
    )
    (root / "VNBench_new.json").write_text(json.dumps(rows))
    (root / "vids").mkdir()
    shutil.copy(_clip(), root / "vids" / "v1.mp4")


MAKERS = {
    "videomme": make_videomme,
    "mlvu": make_mlvu,
    "longvideobench": make_lvb,
    "egoschema": make_egoschema,
    "vnbench": make_vnbench,
}


# ----------------------------------------------------------------------------- loaders
def test_all_five_are_registered():
    assert {"videomme", "mlvu", "longvideobench", "egoschema", "vnbench"} <= set(BENCHMARKS.list())


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_missing_files_say_where_to_put_them(tmp_path, name):
    with pytest.raises(BenchmarkFilesError, match="does not download"):
        BENCHMARKS.create(name).load(tmp_path)


def test_videomme_loader_with_and_without_subtitles(tmp_path):
    make_videomme(tmp_path)
    b = BENCHMARKS.create("videomme")
    items = b.load(tmp_path)
    assert [i.answer for i in items] == ["B", "C", "B"]
    assert items[0].category == "Counting Problem" and items[0].extra["duration"] == "short"
    assert items[0].video == str((tmp_path / "data" / "vidA.mp4").resolve()) and items[0].subtitles is None
    p = b.prompt(items[0])
    assert "A. 1\nB. 2" in p and p.endswith("The best answer is:") and "subtitles" not in p
    subbed = b.load(tmp_path, subtitles=True)
    assert subbed[0].subtitles == "Hello there\nGeneral Kenobi"
    assert b.prompt(subbed[0]).startswith("This video's subtitles are listed below:\nHello there")
    assert subbed[2].subtitles == ""  # no subtitle file: no subtitles, not an error
    assert len(b.load(tmp_path, limit=2)) == 2


def test_mlvu_loader_maps_answers_to_letters_and_skips_open_ended(tmp_path):
    make_mlvu(tmp_path)
    items = BENCHMARKS.create("mlvu").load(tmp_path)
    assert [(i.category, i.answer) for i in items] == [("findNeedle", "B"), ("count", "A")]
    assert items[0].video.endswith("video/2_needle/n1.mp4")
    assert "(B) dog" in BENCHMARKS.create("mlvu").prompt(items[0])


def test_longvideobench_loader(tmp_path):
    make_lvb(tmp_path)
    items = BENCHMARKS.create("longvideobench").load(tmp_path, subtitles=True)
    assert [(i.answer, len(i.options), i.category) for i in items] == [("B", 5, "S2E"), ("A", 3, "T3O")]
    assert items[0].subtitles == "hi there" and items[0].extra["duration_group"] == 600


def test_egoschema_loader_keeps_the_public_subset(tmp_path):
    make_egoschema(tmp_path)
    items = BENCHMARKS.create("egoschema").load(tmp_path)
    assert [(i.id, i.answer, len(i.options)) for i in items] == [("u0", "B", 5), ("u2", "E", 5)]
    (tmp_path / "videos").rename(tmp_path / "good_clips_git")  # the archive's own folder name
    assert BENCHMARKS.create("egoschema").load(tmp_path)[0].video.endswith("good_clips_git/u0.mp4")


def test_vnbench_loader_groups_option_orders(tmp_path):
    make_vnbench(tmp_path)
    items = BENCHMARKS.create("vnbench").load(tmp_path)
    assert [i.answer for i in items] == ["B", "A", "D", "C", "B"]
    assert len({i.group for i in items[:4]}) == 1 and items[4].group != items[0].group


# ----------------------------------------------------------------------------- runner
def test_runner_scores_records_missing_videos_and_resumes(tmp_path):
    make_videomme(tmp_path / "vm")
    engine = LetterEngine("B")
    res = run_benchmark(engine, "videomme", tmp_path / "vm", tmp_path / "out", subtitles=True)
    assert (res["correct"], res["total"], res["errors"]) == (1, 3, 1)
    by = res["by"]["category"]
    assert by["Counting Problem"] == {"accuracy": 0.5, "correct": 1, "total": 2, "errors": 1}
    assert by["OCR Problems"]["accuracy"] == 0.0
    assert res["by"]["duration"]["long"]["errors"] == 1
    preds = [json.loads(x) for x in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    missing = next(p for p in preds if p["id"] == "002-1")
    assert "video not found" in missing["error"] and missing["correct"] is False
    assert len(engine.seen) == 2 and "General Kenobi" in engine.seen[0][1]
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["settings"]["subtitles"] is True and saved["settings"]["engine"] == "letter"
    assert "The best answer is:" in saved["settings"]["prompt_example"]
    run_benchmark(engine, "videomme", tmp_path / "vm", tmp_path / "out", subtitles=True)
    assert len(engine.seen) == 2  # resumed: nothing asked again
    with pytest.raises(ResultsMismatchError):
        run_benchmark(engine, "videomme", tmp_path / "vm", tmp_path / "out", subtitles=False)


def test_runner_limit_and_vnbench_grouped_accuracy(tmp_path):
    make_vnbench(tmp_path / "vn")
    res = run_benchmark(LetterEngine("B"), "vnbench", tmp_path / "vn", tmp_path / "out")
    assert res["correct"] == 2 and res["total"] == 5
    assert res["grouped_accuracy"] == {"cnt_level1": 1.0, "ret_insert1": 0.0}  # 1 of 4 orders is not enough
    res = run_benchmark(LetterEngine("B"), "vnbench", tmp_path / "vn", tmp_path / "out2", limit=2)
    assert res["total"] == 2 and res["settings"]["limit"] == 2


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_every_loader_runs_end_to_end(tmp_path, name):
    MAKERS[name](tmp_path / "b")
    from pathlib import Path

    items = BENCHMARKS.create(name).load(tmp_path / "b")
    res = run_benchmark(LetterEngine("A"), name, tmp_path / "b", tmp_path / "o")
    assert res["total"] == len(items) > 0
    assert res["correct"] == sum(i.answer == "A" and Path(i.video).is_file() for i in items)
    assert set(res["by"]["category"]) == {i.category for i in items}
