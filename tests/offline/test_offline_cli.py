"""The commands: search/ask --json on an indexed video, index over a folder."""

from __future__ import annotations

import json

import pytest

from longvid.cli import main

# the commands index real videos and load the LLM (minutes on a 2-core CPU)
pytestmark = pytest.mark.slow


def test_search_and_ask_json(engine, needle_video, capsys):
    cache = str(engine.indexer.cache)
    engine.index(needle_video)  # built once for the session
    assert main(["search", str(needle_video), "vault", "code", "-k", "2", "--json", "--cache", cache]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res) == 2 and res[0]["moment"]["label"].startswith("[")
    assert {"transcript", "on_screen_text", "tags", "keyframe"} <= set(res[0])
    # the command's engine keeps converted LLM weights under --cache: point it at the shared ones
    models = engine.indexer.cache / "models"
    if not models.exists():
        from longvid.offline.cache import cache_root

        (cache_root() / "models").mkdir(parents=True, exist_ok=True)
        models.symlink_to(cache_root() / "models")
    assert main(["ask", str(needle_video), "What is the secret password?", "--json", "--cache", cache]) == 0
    ans = json.loads(capsys.readouterr().out)
    assert ans["grounded"] and "pineapple" in ans["answer"].lower()
    assert ans["moments"] and ans["moments"][0].startswith("[0:0")
    assert ans["evidence"][0]["keyframe"].endswith(".jpg")


def test_index_folder_reports_each_file_and_failures(engine, short_video, tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "a.mp4").symlink_to(short_video("silent_track", audio=False, speech=False))
    (folder / "broken.mp4").write_bytes(b"\x00" * 1000)
    rc = main(["index", str(folder), "--json", "--no-progress", "--cache", str(engine.indexer.cache)])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1  # one file failed
    by_name = {r["video"].rsplit("/", 1)[-1]: r for r in out}
    assert by_name["a.mp4"]["segments"] > 0
    assert "error" in by_name["broken.mp4"]
