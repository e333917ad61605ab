"""The main job: ask and search find needles at every depth of a 20-minute video, at the right time."""

from __future__ import annotations

import pytest

# every test reads the 20-minute needle video's index (built once: minutes of Whisper, OCR and features)
pytestmark = pytest.mark.slow

TOLERANCE_S = 2.0  # a cited moment must cover the needle's time within this


def covers(moment, probe) -> bool:
    return moment.start_s - TOLERANCE_S <= probe.time_s + 1.0 and moment.end_s + TOLERANCE_S >= probe.time_s + 1.0


def test_index_is_built_once_and_reused(engine, needle_video):
    idx = engine.index(needle_video)
    m = idx.manifest
    assert m["frames"] == 1200 and m["num_segments"] == len(idx.segments) > 50
    assert m["kept_frames"] < m["frames"]  # temporal reduction kept only part of the frames
    # another engine on the same cache finds the index without building (and without models)
    from longvid.offline.engine import OfflineEngine

    other = OfflineEngine(cache_dir=engine.indexer.cache)
    again = other.index(needle_video)
    assert again.folder == idx.folder and again.manifest["created"] == m["created"]
    assert other.indexer.models == {}


def test_search_finds_needle_at_its_time(engine, needle_video, probe):
    results = engine.search(needle_video, probe.query, 3)
    assert results, probe.query
    assert covers(results[0].moment, probe), [(r.moment.label(), r.transcript, r.on_screen_text) for r in results]
    text = (results[0].transcript + " " + results[0].on_screen_text).lower().replace(" ", "")
    assert probe.expect in text


def test_ask_answers_and_cites_the_moment(engine, needle_video, probe):
    ans = engine.ask(needle_video, probe.question)
    assert ans.grounded, ans.text
    assert probe.expect in ans.text.lower().replace(" ", ""), ans.text
    assert any(covers(m, probe) for m in ans.moments), [m.label() for m in ans.moments]
    assert all(e.keyframe and e.keyframe.endswith(".jpg") for e in ans.evidence)


def test_unanswerable_question_is_not_invented(engine, needle_video):
    ans = engine.ask(needle_video, "What is the capital of France?")
    assert not ans.grounded
    assert "paris" not in ans.text.lower() or "not supported" in ans.text
    assert ans.evidence  # the best evidence is shown instead
