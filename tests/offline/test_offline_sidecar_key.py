"""Sidecar subtitle files are part of the index key; a new or changed one re-runs only the
subtitle stage (visual and speech results are read back from the stage folder)."""

from __future__ import annotations

import logging
import shutil

import pytest

from longvid.offline.indexer import Indexer


def srt(text: str, start: str = "00:00:30,000", end: str = "00:00:33,500") -> str:
    return f"1\n{start} --> {end}\n{text}\n\n"


@pytest.mark.slow  # indexes a generated 64 s video with speech (features, OCR, Whisper)
def test_sidecar_change_reruns_only_subtitles(engine, short_video, tmp_path, caplog):
    video = tmp_path / "talk.mp4"
    shutil.copy(short_video("resume"), video)
    cache = tmp_path / "cache"

    def indexer(runs):
        # a fresh indexer each time: models are created only when a stage actually runs
        return Indexer(engine.config.index, cache_dir=cache, progress=lambda s, d, t: runs.append(s))

    runs: list[str] = []
    first = indexer(runs).index(video)
    assert {"visual", "speech"} <= set(runs) and first.manifest["reused_stages"] == []
    assert first.manifest["subtitle_cues"] == 0 and first.manifest["sidecars"]["files"] == []

    (tmp_path / "talk.srt").write_text(srt("The orchard blooms in April."), encoding="utf-8")
    runs = []
    ix = indexer(runs)
    with caplog.at_level(logging.INFO, logger="longvid.offline"):
        second = ix.index(video)
    assert second.folder != first.folder
    assert "visual" not in runs and "speech" not in runs  # neither stage ran again
    assert second.manifest["reused_stages"] == ["visual", "speech"]
    assert "encoder" not in ix.models and "ocr" not in ix.models and "speech" not in ix.models
    assert "read back" in caplog.text
    said = " ".join(s.transcript for s in second.segments).lower()
    assert "orchard" in said and "lighthouse" in said  # the new subtitle and the kept transcript
    assert [s.on_screen for s in second.segments] == [s.on_screen for s in first.segments]
    assert second.manifest["sidecars"]["files"] == ["talk.srt"]

    # a different .srt for the same video: its own index, never the first one's
    (tmp_path / "talk.srt").write_text(srt("The glacier melts in June."), encoding="latin-1")
    third = indexer([]).index(video)
    said = " ".join(s.transcript for s in third.segments).lower()
    assert "glacier" in said and "orchard" not in said
    assert third.folder not in (first.folder, second.folder)

    # switching back finds the earlier index; removing the sidecar finds the first
    (tmp_path / "talk.srt").write_text(srt("The orchard blooms in April."), encoding="utf-8")
    assert indexer([]).index(video).folder == second.folder
    (tmp_path / "talk.srt").unlink()
    again = indexer([]).index(video)
    assert again.folder == first.folder and "orchard" not in " ".join(s.transcript for s in again.segments).lower()


@pytest.mark.slow  # indexes a generated video
def test_rebuild_clears_the_stage_folder(engine, short_video, tmp_path):
    video = short_video("silent_track", audio=False, speech=False)
    ix = Indexer(engine.config.index, cache_dir=tmp_path / "cache", models=engine.indexer.models)
    ix.index(video)
    assert (ix.stages_for(video) / "visual.npz").exists()
    runs: list[str] = []
    ix.progress = lambda s, d, t: runs.append(s)
    rebuilt = ix.index(video, rebuild=True)
    assert "visual" in runs and rebuilt.manifest["reused_stages"] == []
