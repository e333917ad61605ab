"""``longvid niah`` and ``longvid eval`` end to end with registered reference engines."""

import json

import pytest

from longvid.cli import main
from longvid.engines import ENGINES


@pytest.fixture(autouse=True)
def reference_engines(pixel_engine, letter_engine):
    for name, factory in (("test-pixel", pixel_engine), ("test-letter", letter_engine)):
        if name not in ENGINES.list():
            ENGINES.register(name)(factory)


def test_niah_command(tmp_path, haystack_60s, capsys):
    haystack, _ = haystack_60s
    rc = main(
        [
            "niah",
            "--engine",
            "test-pixel",
            "--haystack",
            str(haystack),
            "--needles",
            str(tmp_path / "needles"),
            "--generate-needles",
            "--frames",
            "10,20",
            "--depths",
            "0,1",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "average accuracy" in out and "heatmap:" in out
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(res["cells"]) == 4 and res["num_results"] == 4 * 6  # six generated needle sets
    assert res["by_needle"]["image0"] == 1.0  # the pixel engine sees image needles, and only those
    # the multiple-choice set: the engine names the colour, the letter is read from the option text
    assert res["by_needle"]["choice0"] == 1.0
    assert res["settings"]["adapter"]["adapter"] == "video"


def test_niah_command_builds_a_haystack(tmp_path):
    hs = tmp_path / "hs.mp4"
    rc = main(
        [
            "niah",
            "--engine",
            "test-pixel",
            "--haystack",
            str(hs),
            "--build-haystack",
            "12",
            "--needles",
            str(tmp_path / "n"),
            "--generate-needles",
            "--frames",
            "10",
            "--depths",
            "0.5",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0 and hs.stat().st_size > 0


def test_eval_command(tmp_path, capsys, benchmark_files):
    benchmark_files["videomme"](tmp_path / "vm")
    rc = main(
        [
            "eval",
            "videomme",
            "--root",
            str(tmp_path / "vm"),
            "--engine",
            "test-letter",
            "--limit",
            "2",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0
    assert "videomme: accuracy 0.500 (1/2)" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "results.json").read_text())["settings"]["limit"] == 2


def test_eval_command_missing_files_is_a_clear_error(tmp_path, capsys):
    rc = main(["eval", "mlvu", "--root", str(tmp_path), "--engine", "test-letter"])
    assert rc == 1 and "does not download" in capsys.readouterr().err


def test_niah_command_needle_kinds(tmp_path, haystack_60s, capsys):
    haystack, _ = haystack_60s
    base = ["niah", "--engine", "test-pixel", "--haystack", str(haystack), "--frames", "10", "--depths", "0.5"]
    rc = main([*base, "--needles", str(tmp_path / "n"), "--generate-needles", "--needle-kinds", "image,text",
               "--out", str(tmp_path / "out")])
    assert rc == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sorted(res["by_needle"]) == ["image0", "text0"]  # no speech, no multi-needle sets

    missing = tmp_path / "never-built.mp4"
    rc = main(["niah", "--engine", "test-pixel", "--haystack", str(missing), "--build-haystack", "12",
               "--needles", str(tmp_path / "n2"), "--generate-needles", "--needle-kinds", "smell"])
    assert rc == 1
    assert "--needle-kinds 'smell'" in capsys.readouterr().err
    assert not missing.exists()  # rejected before the haystack was built
