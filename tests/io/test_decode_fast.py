"""Exact mode's fast paths return the very frames a plain full decode shows at each target.

The fast paths: non-reference frames far from every target are skipped, GOPs (and GOP tails,
and open-GOP leading pictures) that no target needs are never sent to the decoder, and sparse
plans seek. Each case here compares, pixel for pixel and timestamp for timestamp, the sampled
frames with those of a plain PyAV decode of every frame (written out in the test), on small
generated files with B-frames, open GOPs, short and odd GOPs and variable frame rates.
"""

from __future__ import annotations

import bisect

import av
import numpy as np
import pytest

from longvid.io import SamplingConfig, plan_targets, probe, sample_frames
from longvid.io.decoders import PyAVDecoder
from longvid.io.geometry import plan_geometry
from longvid.synth.testvideo import has_encoder

X264_OPEN = {"x264-params": "open-gop=1:keyint=7:min-keyint=7:scenecut=0:bframes=3:b-pyramid=normal"}
X265_OPEN = {"x265-params": "log-level=error:keyint=8:min-keyint=8:open-gop=1:bframes=4:scenecut=0"}

# name -> (file name, make_video keywords); 10 fps, 128x96, each frame shows its own index
CASES = {
    "h264-bframes-gop5-mp4": ("g5.mp4", {"gop": 5}),
    "h264-bframes-gop7-mkv": ("g7.mkv", {"gop": 7}),
    "h264-open-gop-mp4": ("open.mp4", {"options": X264_OPEN}),
    "h264-open-gop-ts": ("open.ts", {"options": X264_OPEN}),
    "h264-long-gop": ("g40.mp4", {"gop": 40}),
    "hevc-open-gop-mkv": ("open.mkv", {"codec": "libx265", "options": X265_OPEN}),
    "vp9-gop6": ("g6.webm", {"codec": "libvpx-vp9", "gop": 6}),
    "av1-gop6": ("g6.mkv", {"codec": "libsvtav1", "gop": 6}),
    "h264-vfr-gop4": ("vfr.mkv", {"gop": 4, "frame_times": None}),
}


def vfr_times() -> list[float]:
    """Irregular frame times: bursts at 20 fps, gaps of up to 0.7 s."""
    rng = np.random.default_rng(3)
    steps = rng.choice([0.05, 0.1, 0.3, 0.7], size=40, p=[0.4, 0.3, 0.2, 0.1])
    return np.round(np.concatenate([[0.0], np.cumsum(steps)[:-1]]), 3).tolist()


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case_video(request, media):
    name, kw = CASES[request.param]
    kw = dict(kw)
    codec = kw.setdefault("codec", "libx264")
    if not has_encoder(codec):
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    if "frame_times" in kw:
        kw["frame_times"] = vfr_times()
    return media(f"{request.param}_{name}", duration_s=6.0, fps=10, **kw)


def full_decode(path) -> tuple[list[float], list[np.ndarray]]:
    """Every frame of a plain decode (nothing skipped), sorted by time, as RGB arrays."""
    with av.open(str(path)) as c:
        frames = [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(c.streams.video[0])]
    frames.sort(key=lambda x: x[0])
    return [t for t, _ in frames], [a for _, a in frames]


def on_screen(times: list[float], t: float) -> int:
    return max(0, bisect.bisect_right(times, t + 1e-6) - 1)


def sampled(path, targets, **decoder_kw):
    info = probe(path)
    geometry = plan_geometry((info.width, info.height), 0, None, "none", (0, 0, 0))
    dec = PyAVDecoder("exact", **decoder_kw)
    out = list(dec.frames(info, np.asarray(targets, dtype=np.float64), geometry,
                          seek_threshold_s=5.0, on_truncated="error"))
    return dec, out


def assert_same_as_full_decode(path, targets, out):
    times, arrays = full_decode(path)
    assert [i for _, _, i in out] == list(range(len(targets)))
    for arr, pts, i in out:
        k = on_screen(times, targets[i])
        assert pts == pytest.approx(times[k], abs=1e-6), (targets[i], pts, times[k])
        assert np.array_equal(arr, arrays[k]), f"target {targets[i]:.3f} s: pixels differ from the full decode"


@pytest.mark.parametrize("fps", [1.0, 0.7, 3.0])
def test_one_fps_sampling_equals_a_full_decode(case_video, fps):
    info = probe(case_video)
    targets = plan_targets(info, SamplingConfig(fps=min(fps, info.fps)))
    _, out = sampled(case_video, targets)
    assert_same_as_full_decode(case_video, targets, out)


def test_targets_off_the_frame_grid(case_video):
    """Targets between frames, just before and just after keyframes, and repeated targets."""
    info = probe(case_video)
    end = info.start_s + info.duration_s
    targets = np.sort(np.concatenate([
        info.start_s + np.arange(0.0, info.duration_s - 0.2, 0.45) + 0.013,
        [info.start_s + 0.499, info.start_s + 0.5, info.start_s + 0.5, min(end - 0.01, info.start_s + 5.29)],
    ]))
    _, out = sampled(case_video, targets)
    assert_same_as_full_decode(case_video, targets, out)


def test_short_gops_are_not_decoded_where_no_target_needs_them(media):
    """Keyframes every 0.5 s, a target every second: every other GOP is never decoded, and of the
    rest only the frames up to the target; the frames are still the full decode's."""
    path = media("drop_g5.mp4", duration_s=8.0, fps=10, gop=5)
    targets = plan_targets(probe(path), SamplingConfig(fps=1.0))
    dec, out = sampled(path, targets)
    assert_same_as_full_decode(path, targets, out)
    assert dec.stats.dropped >= 40  # of 80 frames, at least half are never decoded
    assert dec.stats.decoded <= 40
    plain, plain_out = sampled(path, targets, skip_far=False, drop_gops=False)
    assert plain.stats.dropped == 0 and plain.stats.decoded >= 70  # up to the frame after the last target
    assert [p for _, p, _ in plain_out] == [p for _, p, _ in out]


def test_fast_paths_off_give_the_same_frames(case_video):
    info = probe(case_video)
    targets = plan_targets(info, SamplingConfig(fps=1.0))
    _, fast = sampled(case_video, targets)
    _, plain = sampled(case_video, targets, skip_far=False, drop_gops=False)
    assert [p for _, p, _ in fast] == [p for _, p, _ in plain]
    assert all(np.array_equal(a, b) for (a, _, _), (b, _, _) in zip(fast, plain))


def test_windows_and_count_plans_through_sample_frames(media):
    """The planner works from the targets of the window being decoded: a resumed window and a
    sparse count plan (which also seeks) give the full decode's frames."""
    path = media("plans_g5.mkv", duration_s=20.0, fps=10, gop=5)
    times, arrays = full_decode(path)
    for cfg in (SamplingConfig(fps=1.0, resize="none", start_s=7.3),
                SamplingConfig(num_frames=4, resize="none", seek_threshold_s=2.0)):
        for batch in sample_frames(path, cfg):
            for arr, pts, t in zip(batch.frames, batch.timestamps_s, batch.targets_s):
                k = on_screen(times, float(t))
                assert pts == pytest.approx(times[k], abs=1e-6)
                assert np.array_equal(arr, arrays[k])
