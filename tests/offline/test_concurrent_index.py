"""Speech beside the visual pass: the same index as one stage after the other, and an
interrupted concurrent run (an exception in one stage, or SIGKILL) resumes to that same index
without redoing what was finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from longvid.offline.config import IndexSettings
from longvid.offline.indexer import Indexer

# small chunks and checkpoints: a 64 s video then has several of each to interrupt between
SETTINGS = replace(IndexSettings(), speech_chunk_s=16.0, checkpoint_frames=16)
SAID = (
    (6.0, "The lighthouse keeper feeds seven cats."),
    (22.0, "The conference will be held in Lisbon."),
    (38.0, "The red balloon flew over the old castle."),
    (54.0, "The secret password is pineapple."),
)


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    from longvid.synth.needles import Needle
    from longvid.synth.speech import espeak_available
    from longvid.synth.talk import TimedNeedle, haystack_parts, write_video

    if not espeak_available():
        pytest.skip("espeak-ng is not installed: the speech cannot be made")
    needles = [TimedNeedle(t, Needle("speech", f"n{i}", text=words)) for i, (t, words) in enumerate(SAID)]
    needles.append(TimedNeedle(30.0, Needle("text", "harbour", text="Harbour lights at midnight")))
    slides, clips, said = haystack_parts(64.0, needles, filler_slide_s=15.0, clip_s=5.0, speech_every_s=None,
                                         clip_names=("carphone_pristine.mp4",))
    path = tmp_path_factory.mktemp("talk") / "talk.mp4"
    write_video(path, duration_s=64.0, slides=slides, clips=clips, speech=said, fps=1.0, size=(480, 270))
    return path


def content(index) -> list[tuple]:
    return [(s.start_s, s.end_s, s.transcript, s.on_screen, s.tags) for s in index.segments]


@pytest.fixture(scope="module")
def sequential(talk, tmp_path_factory):
    """The reference: the stages one after the other, and the models it made (shared below)."""
    ix = Indexer(SETTINGS, cache_dir=tmp_path_factory.mktemp("seq"), concurrency="off")
    index = ix.index(talk)
    assert index.manifest["concurrency"] == "off"
    said = " ".join(s.transcript for s in index.segments).lower()
    assert "lisbon" in said and "pineapple" in said  # the reference itself heard the speech
    return content(index), ix.models


def shared(models: dict) -> dict:
    # each indexer makes its own speech model (its thread count is fixed when it is created)
    return {k: v for k, v in models.items() if k != "speech"}


class Spy:
    """Wraps a stage model: counts the frames it encodes / the audio clips it is given, and can
    fail on the n-th clip."""

    def __init__(self, inner, fail_on_clip: int | None = None) -> None:
        self.inner = inner
        self.fail_on_clip = fail_on_clip
        self.frames = 0
        self.clip_starts: list[float] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, batch):
        self.frames += len(batch.frames)
        return self.inner.encode(batch)

    def transcribe(self, clips):
        def watched():
            for clip in clips:
                self.clip_starts.append(clip.start_s)
                if self.fail_on_clip is not None and len(self.clip_starts) == self.fail_on_clip:
                    raise RuntimeError("injected speech failure")
                yield clip

        yield from self.inner.transcribe(watched())


def speech_lines(stages) -> list[dict]:
    path = stages / "speech.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow  # indexes a 64 s video with speech twice (features, OCR, Whisper)
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_concurrent_index_equals_sequential(talk, sequential, tmp_path, mode):
    reference, models = sequential
    calls: list[tuple[str, float, float]] = []
    ix = Indexer(SETTINGS, cache_dir=tmp_path, concurrency=mode, models=shared(models),
                 progress=lambda *a: calls.append(a))
    index = ix.index(talk)
    assert index.manifest["concurrency"] == mode
    assert content(index) == reference
    t = index.manifest["timings_s"]
    assert t["speech_cpu_s"] > 0 and t["visual_cpu_s"] > 0 and t["stages_s"] > 0
    # per-stage progress: never backwards, ending at its total, both stages reported
    for stage in ("visual", "speech"):
        done = [d for s, d, _ in calls if s == stage]
        assert done and done == sorted(done) and done[-1] == pytest.approx(64.0, abs=1.0), (stage, done)


@pytest.mark.slow  # indexes a 64 s video with speech twice
def test_speech_failure_stops_and_resumes(talk, sequential, tmp_path):
    reference, models = sequential
    ix = Indexer(SETTINGS, cache_dir=tmp_path, concurrency="thread", models=shared(models))
    whisper = ix.model("speech", threads=1)
    ix.models["speech"] = Spy(whisper, fail_on_clip=3)
    with pytest.raises(RuntimeError, match="injected speech failure"):
        ix.index(talk)
    stages = ix.stages_for(talk)
    kept = speech_lines(stages)
    assert kept and not (stages / "speech.done").exists()  # finished chunks on disk, stage not done
    done_until = kept[-1]["done_until_s"]

    encoder = Spy(models["encoder"])
    speech = Spy(whisper)
    ix2 = Indexer(SETTINGS, cache_dir=tmp_path, concurrency="thread", models={**shared(models), "encoder": encoder,
                                                                              "speech": speech})
    index = ix2.index(talk)
    assert content(index) == reference
    assert speech.clip_starts and min(speech.clip_starts) >= done_until - 1e-6  # no finished chunk redone
    if (stages / "visual.npz").exists() and "visual" in index.manifest["reused_stages"]:
        assert encoder.frames == 0
    else:
        assert encoder.frames < 64  # the visual checkpoints written before the failure were kept


KILLED_CHILD = """
import sys
from dataclasses import replace
from longvid.offline.config import IndexSettings
from longvid.offline.indexer import Indexer
settings = replace(IndexSettings(), speech_chunk_s=16.0, checkpoint_frames=16)
Indexer(settings, cache_dir=sys.argv[2], concurrency="thread").index(sys.argv[1])
"""


@pytest.mark.slow  # a killed index run in a child, then the resumed run
def test_sigkill_mid_index_resumes(talk, sequential, tmp_path):
    reference, models = sequential
    stages = Indexer(SETTINGS, cache_dir=tmp_path).stages_for(talk)
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(talk), str(tmp_path)],
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        # kill once both stages have checkpoints and neither has finished
        while time.monotonic() < deadline and child.poll() is None:
            if speech_lines(stages) and (stages / "visual" / "part_00000.json").exists():
                break
            time.sleep(0.05)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait()
    if child.returncode == 0:
        pytest.skip("the child finished before it could be killed")
    assert child.returncode == -signal.SIGKILL
    lines_before = speech_lines(stages)
    assert lines_before, "the speech stage had a checkpoint when killed"
    done_until = lines_before[-1]["done_until_s"]
    speech_finished = (stages / "speech.done").exists()

    encoder = Spy(models["encoder"])
    speech = Spy(Indexer(SETTINGS).model("speech", threads=1))
    ix = Indexer(SETTINGS, cache_dir=tmp_path, concurrency="thread",
                 models={**shared(models), "encoder": encoder, "speech": speech})
    index = ix.index(talk)
    assert content(index) == reference
    assert encoder.frames < 64  # the visual checkpoints of the killed run were kept
    if speech_finished:
        assert speech.clip_starts == [] and "speech" in index.manifest["reused_stages"]
    else:
        assert speech.clip_starts and min(speech.clip_starts) >= done_until - 1e-6
