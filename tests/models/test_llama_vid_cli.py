"""`longvid ask VIDEO Q --model <llama-vid folder>`: the family picked from config.json."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from longvid.cli import main
from longvid.models.llama_vid.testing import make_llama_vid
from longvid.synth.testvideo import make_video


# the memory planner runs first: EVA-ViT-G, written in longvid, states its own size to it
def test_ask_with_a_llama_vid_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LONGVID_CACHE", str(tmp_path / "cache"))
    ck = make_llama_vid(tmp_path / "model")
    video = make_video(tmp_path / "v.mp4", duration_s=3.0, fps=5, size=(64, 48))
    rc = main(["ask", str(video), "what", "is", "in", "the", "video", "--model", str(ck.folder),
               "--device", "cpu", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["engine"] == "llama_vid"
    assert sorted(e["extra"]["frame_index"] for e in out["evidence"]) == [0, 1, 2]
    assert (tmp_path / "cache" / "llama_vid").is_dir()  # the frames' features were cached
