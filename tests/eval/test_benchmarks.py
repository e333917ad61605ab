"""Benchmark loaders on tiny fixture files in each published format, and the runner."""

import json

import pytest

from longvid.commands.eval import BENCHMARK_NAMES
from longvid.eval.benchmarks import BENCHMARKS, BenchmarkFilesError
from longvid.eval.benchmarks.runner import run_benchmark
from longvid.eval.niah.results import ResultsMismatchError


# ----------------------------------------------------------------------------- loaders
def test_all_five_are_registered():
    assert {"videomme", "mlvu", "longvideobench", "egoschema", "vnbench"} <= set(BENCHMARKS.list())


@pytest.mark.parametrize("name", sorted(BENCHMARK_NAMES))
def test_missing_files_say_where_to_put_them(tmp_path, name):
    with pytest.raises(BenchmarkFilesError, match="does not download"):
        BENCHMARKS.create(name).load(tmp_path)


def test_videomme_loader_with_and_without_subtitles(tmp_path, benchmark_files):
    benchmark_files["videomme"](tmp_path)
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


def test_mlvu_loader_maps_answers_to_letters_and_skips_open_ended(tmp_path, benchmark_files):
    benchmark_files["mlvu"](tmp_path)
    items = BENCHMARKS.create("mlvu").load(tmp_path)
    assert [(i.category, i.answer) for i in items] == [("findNeedle", "B"), ("count", "A")]
    assert items[0].video.endswith("video/2_needle/n1.mp4")
    assert "(B) dog" in BENCHMARKS.create("mlvu").prompt(items[0])


def test_longvideobench_loader(tmp_path, benchmark_files):
    benchmark_files["longvideobench"](tmp_path)
    items = BENCHMARKS.create("longvideobench").load(tmp_path, subtitles=True)
    assert [(i.answer, len(i.options), i.category) for i in items] == [("B", 5, "S2E"), ("A", 3, "T3O")]
    assert items[0].subtitles == "hi there" and items[0].extra["duration_group"] == 600


def test_egoschema_loader_keeps_the_public_subset(tmp_path, benchmark_files):
    benchmark_files["egoschema"](tmp_path)
    items = BENCHMARKS.create("egoschema").load(tmp_path)
    assert [(i.id, i.answer, len(i.options)) for i in items] == [("u0", "B", 5), ("u2", "E", 5)]
    (tmp_path / "videos").rename(tmp_path / "good_clips_git")  # the archive's own folder name
    assert BENCHMARKS.create("egoschema").load(tmp_path)[0].video.endswith("good_clips_git/u0.mp4")


def test_vnbench_loader_groups_option_orders(tmp_path, benchmark_files):
    benchmark_files["vnbench"](tmp_path)
    items = BENCHMARKS.create("vnbench").load(tmp_path)
    assert [i.answer for i in items] == ["B", "A", "D", "C", "B"]
    assert len({i.group for i in items[:4]}) == 1 and items[4].group != items[0].group


# ----------------------------------------------------------------------------- runner
def test_runner_scores_records_missing_videos_and_resumes(tmp_path, benchmark_files, letter_engine):
    benchmark_files["videomme"](tmp_path / "vm")
    engine = letter_engine("B")
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


def test_runner_limit_and_vnbench_grouped_accuracy(tmp_path, benchmark_files, letter_engine):
    benchmark_files["vnbench"](tmp_path / "vn")
    res = run_benchmark(letter_engine("B"), "vnbench", tmp_path / "vn", tmp_path / "out")
    assert res["correct"] == 2 and res["total"] == 5
    assert res["grouped_accuracy"] == {"cnt_level1": 1.0, "ret_insert1": 0.0}  # 1 of 4 orders is not enough
    res = run_benchmark(letter_engine("B"), "vnbench", tmp_path / "vn", tmp_path / "out2", limit=2)
    assert res["total"] == 2 and res["settings"]["limit"] == 2


@pytest.mark.parametrize("name", sorted(BENCHMARK_NAMES))
def test_every_loader_runs_end_to_end(tmp_path, name, benchmark_files, letter_engine):
    benchmark_files[name](tmp_path / "b")
    from pathlib import Path

    items = BENCHMARKS.create(name).load(tmp_path / "b")
    res = run_benchmark(letter_engine("A"), name, tmp_path / "b", tmp_path / "o")
    assert res["total"] == len(items) > 0
    assert res["correct"] == sum(i.answer == "A" and Path(i.video).is_file() for i in items)
    assert set(res["by"]["category"]) == {i.category for i in items}
