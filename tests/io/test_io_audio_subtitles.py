"""Audio as 16 kHz mono, subtitles as timed text (embedded streams and sidecar files)."""

from __future__ import annotations

import numpy as np
import pytest

from longvid.errors import MissingDependencyError, NotAVideoError, VideoNotFoundError
from longvid.io import iter_audio, read_audio, read_subtitles
from longvid.io.audio import NoAudioStreamError
from longvid.synth.testvideo import make_video, write_srt, write_vtt


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".avi"])
def test_read_audio_tone(media, suffix):
    path = media(f"tone{suffix}", duration_s=2.0, fps=5, audio="tone",
                 codec="libvpx-vp9" if suffix == ".webm" else ("mpeg4" if suffix == ".avi" else "libx264"))
    clip = read_audio(path)
    assert clip.sample_rate == 16000 and clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert clip.duration_s == pytest.approx(2.0, abs=0.15)
    assert abs(clip.start_s) < 0.1
    assert dominant_hz(clip.samples[2000:20000], 16000) == pytest.approx(440, abs=5)
    assert 0.3 < np.abs(clip.samples).max() <= 1.0


def test_iter_audio_streams_fixed_chunks(sample_video):
    whole = read_audio(sample_video, sample_rate=8000)
    chunks = list(iter_audio(sample_video, chunk_s=1.5, sample_rate=8000))
    assert [len(c.samples) for c in chunks[:-1]] == [12000] * (len(chunks) - 1)
    assert 0 < len(chunks[-1].samples) <= 12000
    assert np.array_equal(np.concatenate([c.samples for c in chunks]), whole.samples)
    assert [c.start_s for c in chunks] == pytest.approx([whole.start_s + 1.5 * k for k in range(len(chunks))])


def test_no_audio_stream(media):
    path = media("silent.mp4", duration_s=1.0, fps=5)
    with pytest.raises(NoAudioStreamError, match="no audio stream.*video"):
        read_audio(path)


def test_audio_bad_input(tmp_path):
    with pytest.raises(VideoNotFoundError):
        read_audio(tmp_path / "missing.mp4")
    (tmp_path / "x.wav").write_text("not audio")
    with pytest.raises(NotAVideoError):
        read_audio(tmp_path / "x.wav")


CUES = [(0.5, 1.5, "hello world"), (2.5, 3.25, "second line")]


@pytest.mark.parametrize("suffix,codec", [(".mp4", "libx264"), (".mkv", "libx264"), (".mov", "libx264"), (".webm", "libvpx")])
def test_embedded_subtitles(media, suffix, codec):
    path = media(f"subs{suffix}", duration_s=4.0, fps=5, codec=codec, subtitles=CUES)
    cues = read_subtitles(path)
    assert [c.text for c in cues] == ["hello world", "second line"]
    assert [t for c in cues for t in (c.start_s, c.end_s)] == pytest.approx([0.5, 1.5, 2.5, 3.25], abs=1e-3)
    assert all(c.source == "subtitle" for c in cues)


def test_styled_ass_subtitles_are_plain_text(media):
    path = media("styled.mkv", duration_s=2.0, fps=5, subtitle_codec="ass",
                 subtitles=[(0.5, 1.5, r"{\b1}Bold{\b0} words\Nand a second line")])
    cues = read_subtitles(path)
    assert [c.text for c in cues] == ["Bold words\nand a second line"]
    assert (cues[0].start_s, cues[0].end_s) == pytest.approx((0.5, 1.5), abs=1e-3)


def test_sidecar_subtitles(tmp_path):
    try:
        video = make_video(tmp_path / "talk.mp4", duration_s=4.0, fps=5, subtitles=[(0.2, 0.8, "embedded")])
    except MissingDependencyError as exc:  # a PyAV that cannot write subtitles (before 17)
        pytest.skip(str(exc))
    write_srt(tmp_path / "talk.srt", [(1.0, 2.0, "<i>from srt</i>"), (2.0, 2.5, "two\nlines")])
    write_vtt(tmp_path / "talk.en.vtt", [(3.0, 3.5, "from vtt")])
    write_srt(tmp_path / "talk.de.srt", [(1.0, 2.0, "<i>from srt</i>")])  # same cue twice: kept once
    write_srt(tmp_path / "other.srt", [(0.0, 1.0, "not this video's")])
    write_srt(tmp_path / "talk.extra.notes.srt", [(0.0, 1.0, "not a language suffix")])
    cues = read_subtitles(video)
    assert [c.text for c in cues] == ["embedded", "from srt", "two\nlines", "from vtt"]
    assert cues[3].start_s == pytest.approx(3.0) and cues[3].end_s == pytest.approx(3.5)
    assert [c.text for c in read_subtitles(video, sidecars=False)] == ["embedded"]


def test_no_subtitles_is_empty(media):
    assert read_subtitles(media("nosubs.mp4", duration_s=1.0, fps=5)) == []


def test_broken_sidecar_is_skipped_with_a_warning(tmp_path, caplog):
    video = make_video(tmp_path / "clip.mkv", duration_s=1.0, fps=5)
    (tmp_path / "clip.srt").write_bytes(b"\x00\x01binary garbage\xff" * 10)
    with caplog.at_level("WARNING"):
        cues = read_subtitles(video)
    assert cues == []
    assert "clip.srt" in caplog.text


def test_audio_keeps_time_over_gaps_and_overlaps(tmp_path):
    """Timestamps jump ahead (gap: silence is inserted) and back (overlap: repeats are dropped)."""
    import av

    rate = 16000
    path = tmp_path / "gappy.mka"
    out = av.open(str(path), "w")
    st = out.add_stream("pcm_s16le", rate=rate)
    st.layout = "mono"
    # (start sample, number of samples): 0-1 s, then 1.5-2.5 s (0.5 s gap), then 2.25-2.75 s (overlap)
    # one frame (one packet) per part, so packet times still increase as the muxer requires
    for start, count in [(0, rate), (int(1.5 * rate), rate), (int(2.25 * rate), rate // 2)]:
        t = (start + np.arange(count)) / rate
        tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        for packet in st.encode(frame):
            out.mux(packet)
    for packet in st.encode():
        out.mux(packet)
    out.close()

    clip = read_audio(path)
    assert clip.duration_s == pytest.approx(2.75, abs=0.01)
    s = clip.samples
    assert np.abs(s[int(1.05 * rate) : int(1.45 * rate)]).max() < 0.01  # the gap is silence
    assert np.abs(s[int(1.55 * rate) : int(1.95 * rate)]).max() > 0.3  # the tone resumes on time
    # after the overlap the tone is still in phase with the clock: sample k is sin(2 pi 440 k / rate)
    k = np.arange(int(2.5 * rate), int(2.7 * rate))
    assert np.abs(s[k] - 0.5 * np.sin(2 * np.pi * 440 * k / rate)).max() < 0.01


ACCENTED = [(0.5, 1.5, "Café à Noël, déjà vu"), (2.0, 3.25, "Ça coûte très cher, señor")]
ACCENTED_1252 = [(0.5, 1.5, "Café à Noël — déjà vu"), (2.0, 3.25, "Ça coûte “très” cher, señor…")]


def srt_text(cues) -> str:
    def ts(s: float) -> str:
        ms = int(round(s * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "\n".join(f"{i}\n{ts(a)} --> {ts(b)}\n{t}\n" for i, (a, b, t) in enumerate(cues, 1))


# (codec written by the test, cues): Latin-1 cannot hold the em dash or curly quotes
ENCODINGS = {
    "utf-8": ACCENTED_1252,
    "utf-8-sig": ACCENTED_1252,  # UTF-8 with a BOM
    "utf-16-le-bom": ACCENTED_1252,
    "utf-16-be-bom": ACCENTED_1252,
    "latin-1": ACCENTED,
    "cp1252": ACCENTED_1252,
}


def encode(text: str, name: str) -> bytes:
    if name == "utf-16-le-bom":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if name == "utf-16-be-bom":
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode(name)


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_sidecar_srt_in_any_common_encoding(tmp_path, name, caplog):
    cues_in = ENCODINGS[name]
    video = make_video(tmp_path / "film.mp4", duration_s=4.0, fps=5)
    (tmp_path / "film.srt").write_bytes(encode(srt_text(cues_in), name))
    with caplog.at_level("WARNING"):
        cues = read_subtitles(video)
    assert [c.text for c in cues] == [t for _, _, t in cues_in]
    assert [x for c in cues for x in (c.start_s, c.end_s)] == pytest.approx([x for a, b, _ in cues_in for x in (a, b)], abs=1e-3)
    assert "Invalid data" not in caplog.text and "skipped" not in caplog.text


def test_vtt_in_latin1(tmp_path):
    video = make_video(tmp_path / "film.mkv", duration_s=4.0, fps=5)
    body = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nCafé à Noël, déjà vu\n"
    (tmp_path / "film.fr.vtt").write_bytes(body.encode("latin-1"))
    cues = read_subtitles(video)
    assert [(c.start_s, c.end_s, c.text) for c in cues] == [(pytest.approx(1.0), pytest.approx(2.5), "Café à Noël, déjà vu")]


def test_explicit_encoding_overrides_detection(tmp_path):
    from longvid.io.subtitles import detect_encoding

    text = srt_text([(0.0, 1.0, "Zażółć gęślą jaźń")])  # Polish: Windows-1250 only
    video = make_video(tmp_path / "pl.mp4", duration_s=2.0, fps=5)
    (tmp_path / "pl.srt").write_bytes(text.encode("cp1250"))
    assert [c.text for c in read_subtitles(video, encoding="cp1250")] == ["Zażółć gęślą jaźń"]
    assert detect_encoding("déjà".encode("utf-8")) == "utf-8"
    latin = srt_text(ACCENTED).encode("latin-1")
    assert detect_encoding(latin) == "cp1252"  # Windows-1252 reads Latin-1's letters the same
    assert detect_encoding(b"\xef\xbb\xbf" + latin) == "utf-8"  # a BOM is believed


def test_sidecar_fingerprint_follows_the_files(tmp_path):
    from longvid.io.subtitles import sidecar_fingerprint

    video = make_video(tmp_path / "clip.mp4", duration_s=1.0, fps=5)
    assert sidecar_fingerprint(video) == ""
    write_srt(tmp_path / "clip.srt", [(0.0, 1.0, "one")])
    first = sidecar_fingerprint(video)
    assert first and sidecar_fingerprint(video) == first
    write_srt(tmp_path / "clip.srt", [(0.0, 1.0, "two")])
    assert sidecar_fingerprint(video) not in ("", first)
    (tmp_path / "clip.srt").rename(tmp_path / "clip.en.srt")  # same bytes, another name: another key
    renamed = sidecar_fingerprint(video)
    assert renamed not in ("", first)
    write_srt(tmp_path / "other.srt", [(0.0, 1.0, "not this video's")])
    assert sidecar_fingerprint(video) == renamed
