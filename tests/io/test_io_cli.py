"""`longvid info` and `longvid sample`, and the scene-change detector they report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from longvid.cli import main
from longvid.io.scenes import SceneConfig, SceneTracker, scene_changes, thumbnail


def test_info_text_and_json(sample_video, capsys):
    assert main(["info", str(sample_video)]) == 0
    out = capsys.readouterr().out
    assert "h264 128x96, 10.000 fps" in out and "aac 16000 Hz" in out and "mov_text" in out
    assert main(["info", str(sample_video), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["duration_s"] == pytest.approx(4.0) and d["display_size"] == [128, 96]
    assert d["audio"][0]["codec"] == "aac"


def test_info_bad_input_is_a_clean_error(tmp_path, capsys):
    (tmp_path / "notes.mp4").write_text("not a video")
    assert main(["info", str(tmp_path / "notes.mp4")]) == 1
    err = capsys.readouterr().err
    assert "longvid info: error:" in err and "not a video file" in err


def test_sample_json_reports_frames_and_scene_change(sample_video, capsys):
    assert main(["sample", str(sample_video), "--fps", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["frames"] == 8
    assert d["timestamps_s"] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    assert d["scene_changes_s"] == pytest.approx([2.0])  # dark scene -> light scene at 2 s
    assert d["max_offset_s"] == 0.0


def test_sample_text_and_saved_frames(sample_video, tmp_path, capsys):
    out_dir = tmp_path / "frames"
    assert main(["sample", str(sample_video), "--num-frames", "3", "--size", "64", "--out", str(out_dir)]) == 0
    text = capsys.readouterr().out
    assert "sampled 3 frames (exact mode)" in text and "scene changes (1)" in text
    files = sorted(out_dir.glob("*.jpg"))
    assert len(files) == 3 and files[0].name == "frame_000000_000000.000s.jpg"
    from PIL import Image

    assert Image.open(files[0]).size == (64, 64)


def test_sample_rejects_absurd_requests(sample_video, capsys):
    assert main(["sample", str(sample_video), "--fps", "0"]) == 1
    assert "0 < fps <= 240" in capsys.readouterr().err
    assert main(["sample", str(sample_video), "--num-frames", "1000"]) == 1
    assert "more than the video has (40 frames)" in capsys.readouterr().err


def test_scene_changes_function():
    dark, light = np.full((36, 64, 3), 20, np.uint8), np.full((36, 64, 3), 230, np.uint8)
    noisy = np.clip(dark.astype(int) + np.random.default_rng(0).integers(-8, 8, dark.shape), 0, 255).astype(np.uint8)
    thumbs = np.stack([thumbnail(f) for f in (dark, noisy, light, light, dark)])
    assert scene_changes(thumbs).tolist() == [2, 4]
    assert scene_changes(thumbs, SceneConfig(threshold=250.0)).tolist() == []
    assert scene_changes(thumbs[:1]).tolist() == []
    tracker = SceneTracker()
    assert [tracker.update(f) for f in (dark, noisy, light, light, dark)] == [False, False, True, False, True]
