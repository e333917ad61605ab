"""`longvid ask --model`: the video-LLM engine through the command line."""

from __future__ import annotations

import json

import pytest

from longvid.cli import main


def test_ask_with_model_folder_prints_json_with_frame_moments(longva_dir, short_video, capsys):
    folder, towers = longva_dir.folder, longva_dir.vision_towers
    tower_args = [a for name, path in towers.items() for a in ("--vision-tower", f"{name}={path}")]
    rc = main(["ask", str(short_video), "what", "is", "in", "the", "video", "--model", str(folder),
               "--device", "cpu", "--num-frames", "6", "--json", *tower_args])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["engine"] == "longva"
    assert out["question"] == "what is in the video"
    times = [e["moment"]["start_s"] for e in out["evidence"]]
    assert times and all(0.0 <= t <= 12.0 for t in times)


def test_ask_with_missing_model_folder_says_what_to_put_where(short_video, tmp_path, capsys):
    rc = main(["ask", str(short_video), "anything", "--model", str(tmp_path / "nowhere"), "--json"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "nowhere" in err and "config.json" in err


def test_ask_rejects_an_empty_question_before_any_work(short_video, capsys):
    rc = main(["ask", str(short_video), "   ", "--model", "does-not-matter"])
    assert rc == 1
    assert "question is empty" in capsys.readouterr().err


def test_bad_vision_tower_option(longva_dir, short_video, capsys):
    folder = longva_dir.folder
    rc = main(["ask", str(short_video), "what", "--model", str(folder), "--vision-tower", "no-equals-sign"])
    assert rc == 1
    assert "NAME=DIR" in capsys.readouterr().err


def test_engines_reject_empty_questions():
    from longvid.engines import EmptyQuestionError, check_question

    assert check_question("  hi ") == "hi"
    with pytest.raises(EmptyQuestionError, match="question is empty"):
        check_question(" \n ")


@pytest.mark.parametrize("maker", ["make_qwen2_5_vl", "make_llava_onevision"])
def test_ask_with_a_transformers_native_model_and_a_compressor(tmp_path, short_video, capsys, maker):
    """`--model` on a Qwen-VL / LLaVA-OneVision folder builds that family's own engine, and
    `--compress` puts the named compressor between its tower and its LLM."""
    import importlib

    module = "longvid.models.llava_onevision.testing" if "onevision" in maker else "longvid.models.qwen_vl.testing"
    folder = getattr(importlib.import_module(module), maker)(tmp_path / "m")
    rc = main(["ask", str(short_video), "what", "is", "shown", "--model", str(folder), "--device", "cpu",
               "--num-frames", "4", "--compress", "uniform", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["engine"] in ("qwen2_5_vl", "llava_onevision")
    assert out["evidence"]  # frames that reached the LLM, with their times


def test_ask_with_an_unknown_compressor_lists_the_known_ones(longva_dir, short_video, capsys):
    rc = main(["ask", str(short_video), "what", "--model", str(longva_dir.folder), "--compress", "zip"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "'zip'" in err and "longvu_temporal" in err


def test_an_engine_option_the_engine_does_not_take_is_named(longva_dir, short_video, capsys):
    rc = main(["ask", str(short_video), "what", "--model", str(longva_dir.folder), "--engine-option", "ratio=8"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "ratio" in err and "do not apply" in err and "num_frames" in err
