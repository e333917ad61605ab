"""Properties of the sampling plan and the output geometry, over many videos and requests."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from longvid.io.geometry import plan_geometry
from longvid.io.sampling import SamplingConfig, plan_targets
from longvid.types import VideoInfo


def info(duration_s: float, fps: float, start_s: float = 0.0) -> VideoInfo:
    return VideoInfo(
        path="x.mp4", container="mp4", codec="h264", width=640, height=360, rotation=0, fps=fps,
        is_variable_fps=False, duration_s=duration_s, start_s=start_s,
        num_frames=max(1, round(duration_s * fps)), num_keyframes=None, bit_rate=None,
    )


@settings(max_examples=200, deadline=None)
@given(
    duration=st.floats(0.05, 20000.0),
    video_fps=st.sampled_from([5.0, 23.976, 25.0, 30.0, 60.0]),
    rate=st.floats(0.01, 5.0),
    start=st.floats(0.0, 2.0),
    cap=st.one_of(st.none(), st.integers(1, 500)),
)
def test_rate_plan(duration, video_fps, rate, start, cap):
    v = info(duration, video_fps, start)
    t = plan_targets(v, SamplingConfig(fps=rate, max_frames=cap))
    assert len(t) >= 1 and t[0] == start
    assert np.all(np.diff(t) > 0) and t[-1] < start + duration
    if cap is not None:
        assert len(t) <= cap
    if cap is None or math.ceil(duration * rate - 1e-9) <= cap:
        assert len(t) == max(1, math.ceil(duration * rate - 1e-9))
        assert np.allclose(np.diff(t), 1 / rate)


@settings(max_examples=200, deadline=None)
@given(duration=st.floats(1.0, 20000.0), n=st.integers(1, 1000), start=st.floats(0.0, 2.0))
def test_count_plan(duration, n, start):
    v = info(duration, 30.0, start)
    if n > v.num_frames:
        return
    t = plan_targets(v, SamplingConfig(num_frames=n))
    assert len(t) == n and t[0] == start and t[-1] <= start + duration
    assert np.all(np.diff(t) >= 0)


@given(
    w=st.integers(2, 8000), h=st.integers(2, 8000), rotation=st.sampled_from([0, 90, 180, 270]),
    size=st.integers(1, 1024), mode=st.sampled_from(["pad", "crop", "stretch"]),
    aspect=st.sampled_from([1.0, 4 / 3, 0.9, 2.0]),
)
def test_geometry_is_square_and_keeps_aspect(w, h, rotation, size, mode, aspect):
    g = plan_geometry((w, h), rotation, size, mode, (127, 127, 127), aspect)
    assert g.out_wh == (size, size)
    sw, sh = g.scale_wh if g.scale_wh is not None else (w, h)
    if rotation in (90, 270):
        sw, sh = sh, sw
    if mode == "pad":
        assert max(sw, sh) == size and min(sw, sh) >= 1  # fits inside, long side fills it
    elif mode == "crop":
        assert min(sw, sh) == size  # covers it, short side fills it
    if mode != "stretch" and min(sw, sh) > 20:
        shown = (w * aspect, h) if rotation in (0, 180) else (h, w * aspect)
        assert abs(sw / sh - shown[0] / shown[1]) / (shown[0] / shown[1]) < 0.1
