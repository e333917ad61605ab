"""Fixtures for the evaluation tests: a short haystack from packaged clips, built once."""

import pytest

from longvid.eval.haystack import HaystackConfig, build_haystack


@pytest.fixture(scope="session")
def haystack_60s(tmp_path_factory):
    """60 s haystack (packaged clips + generated scenes, with audio) and its segment list."""
    path = tmp_path_factory.mktemp("haystack") / "haystack.mp4"
    segments = build_haystack(
        path, HaystackConfig(duration_s=60.0, size=(320, 180), fps=5.0, scene_seconds=(2.0, 4.0), seed=1)
    )
    return path, segments
