"""Bad input and damaged state: missing files, no audio, no speech, stale or other-settings indexes,
interrupted runs, corrupt index files."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from longvid.errors import IndexCorruptError, NotAVideoError, VideoNotFoundError
from longvid.offline.config import INDEX_FORMAT_VERSION, IndexSettings
from longvid.offline.indexer import Indexer
from longvid.offline.store import EMB, MANIFEST


def make_indexer(engine, tmp_path, **changes):
    settings = replace(IndexSettings(), **changes)
    return Indexer(settings, cache_dir=tmp_path / "cache", models=engine.indexer.models)


def texts(idx):
    return [(s.start_s, s.end_s, s.transcript, s.on_screen) for s in idx.segments]


def test_missing_and_non_video_files(engine, tmp_path):
    with pytest.raises(VideoNotFoundError):
        engine.index(tmp_path / "nope.mp4")
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video at all\n" * 50)
    with pytest.raises(NotAVideoError):
        engine.index(bad)


@pytest.mark.slow  # indexes a generated video (features, OCR, speech)
def test_video_without_audio_gets_visual_only_index(engine, short_video, tmp_path):
    ix = make_indexer(engine, tmp_path)
    idx = ix.index(short_video("silent_track", audio=False, speech=False))
    assert idx.manifest["speech"] == "no audio stream"
    assert all(not s.transcript for s in idx.segments)
    hits = engine.search  # the engine itself finds it through its own cache as well
    res = hits(short_video("silent_track", audio=False, speech=False), "harbour lights", 2)
    assert res and res[0].moment.start_s <= 21 <= res[0].moment.end_s + 2


@pytest.mark.slow  # indexes a generated video (features, OCR, speech)
def test_video_with_silent_audio_has_no_transcript(engine, short_video, tmp_path):
    idx = make_indexer(engine, tmp_path).index(short_video("no_speech", audio=True, speech=False))
    assert idx.manifest["speech"] == "no speech found"
    assert any("harbour" in s.on_screen.lower() for s in idx.segments)


@pytest.mark.slow  # indexes a generated video (features, OCR, speech)
def test_older_version_or_other_settings_are_rebuilt_not_misread(engine, short_video, tmp_path, caplog):
    video = short_video("versions", speech=False, audio=False)
    ix = make_indexer(engine, tmp_path)
    first = ix.index(video)
    folder = first.folder
    first.close()
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["format_version"] = 0  # as written by an older longvid
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="longvid.offline.indexer"):
        again = ix.index(video)
    assert "another version" in caplog.text
    assert again.manifest["format_version"] == INDEX_FORMAT_VERSION and again.manifest["created"] >= manifest["created"]
    # other settings: another key, another folder; neither index is touched by the other
    other = make_indexer(engine, tmp_path, max_segment_s=6.0).index(video)
    assert other.folder != again.folder and other.folder.parent == again.folder.parent
    assert max(s.end_s - s.start_s for s in other.segments) <= 6.0 + 1e-6
    assert ix.find(video) is not None


@pytest.mark.slow  # indexes a generated video (features, OCR, speech)
def test_corrupt_index_is_detected_with_advice(engine, short_video, tmp_path):
    video = short_video("corrupt", speech=False, audio=False)
    ix = make_indexer(engine, tmp_path)
    folder = ix.index(video).folder
    emb = np.load(folder / EMB)
    np.save(folder / EMB, emb * 0.5)  # same shape, different bytes
    with pytest.raises(IndexCorruptError, match="rebuild"):
        ix.index(video)
    (folder / MANIFEST).write_text("{ truncated")
    with pytest.raises(IndexCorruptError, match="manifest"):
        ix.index(video)
    rebuilt = ix.index(video, rebuild=True)  # what the error message advises
    assert len(rebuilt.segments) == len(emb)


class Interrupt(Exception):
    pass


@pytest.mark.slow  # indexes a generated video three times
@pytest.mark.parametrize("stage", ["visual", "speech"])
def test_interrupted_indexing_resumes_and_loses_nothing(engine, short_video, tmp_path, caplog, stage):
    video = short_video("resume")
    changes = {"checkpoint_frames": 16, "speech_chunk_s": 15.0}
    reference = make_indexer(engine, tmp_path / "ref", **changes).index(video)

    def interrupt(s, done, total):
        if s == stage and 0 < done < total * 0.8 and done >= total * 0.4:
            raise Interrupt(f"stopped {s} at {done}")

    ix = make_indexer(engine, tmp_path / "run", **changes)
    ix.progress = interrupt
    with pytest.raises(Interrupt):
        ix.index(video)
    work = ix.stages_for(video)
    assert work.exists() and not (work / ("visual.npz" if stage == "visual" else "speech.done")).exists()
    ix.progress = None
    with caplog.at_level(logging.INFO, logger="longvid.offline"):
        resumed = ix.index(video)
    assert f"resuming {'the visual pass' if stage == 'visual' else 'speech'}" in caplog.text
    # the finished stages stay for the next sidecar variant; their checkpoints are gone
    assert (work / "visual.npz").exists() and (work / "speech.done").exists() and not (work / "visual").exists()
    if stage == "visual":
        assert texts(resumed) == texts(reference)
    else:  # audio chunks are cut elsewhere on resume; spans and on-screen text are identical
        assert [t[:2] + t[3:] for t in texts(resumed)] == [t[:2] + t[3:] for t in texts(reference)]
    assert "lighthouse" in " ".join(s.transcript.lower() for s in resumed.segments)


@pytest.mark.slow  # indexes a generated video (features, OCR, speech)
def test_sidecar_subtitles_are_indexed_with_their_times(engine, short_video, tmp_path):
    import shutil

    video = tmp_path / "subtitled.mp4"
    shutil.copy(short_video("silent_track", audio=False, speech=False), video)
    (tmp_path / "subtitled.srt").write_text(
        "1\n00:00:30,000 --> 00:00:33,500\nThe orchard blooms in April.\n\n", encoding="utf-8"
    )
    # same bytes as an indexed video, but the subtitles file is read at indexing: a fresh cache
    idx = make_indexer(engine, tmp_path).index(video)
    assert idx.manifest["subtitle_cues"] == 1
    seg = next(s for s in idx.segments if "orchard" in s.transcript)
    assert seg.start_s <= 30.0 < seg.end_s
    assert any(line["source"] == "subtitle" and line["start_s"] == 30.0 for line in seg.lines)
