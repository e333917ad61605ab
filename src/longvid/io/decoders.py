"""Frame decoders: for each target time, a decoded frame and its real presentation time.

Design decisions (numbers from the 1-hour 640x360 30 fps H.264 measurements on 2 cores):
- PyAV is the default backend: FFmpeg in-process, every container/codec FFmpeg has, exact
  presentation timestamps on every frame, cheap resize in the YUV->RGB conversion, and frames
  converted to RGB only when kept. Decoding uses FFmpeg's own frame+slice threads
  (``thread_type="AUTO"``), which is what keeps a sequential decode near the ffmpeg CLI.
- ``pyav-exact`` (default) returns, for each target t, the frame on screen at t: the last frame
  with pts <= t. It is faster than a full decode because packets that cannot be on screen at a
  target (more than ``window`` before the next target) are decoded with
  ``skip_frame="NONREF"``: the decoder then drops non-reference frames (which nothing else
  needs) and still decodes every reference frame. Near each target every frame is decoded. If a
  gap in a variable-rate stream ever lets a skipped frame be the one on screen, that target is
  re-decoded exactly by seeking (logged), so the result stays exact.
- When the next target is more than ``seek_threshold_s`` ahead, exact mode seeks (back to the
  keyframe before it) instead of decoding through: a seek costs about 73 ms, so sparse plans
  (16 frames of an hour) decode a few GOPs, not the whole hour.
- ``pyav-nonref`` skips every non-reference frame and returns the nearest decoded frame (at most
  one frame from the target); ``pyav-keyframes`` decodes keyframes only (about 30x faster, up to
  half a GOP away). Both report the real time of every frame; keyframe decoding runs with
  FFmpeg's default threading because frame threads make it about 3x slower.
- Damage: a packet that does not decode is skipped (as players do; 100 in a row end decoding).
  A container that ends early (truncated download) or fails to demux ends decoding; frames
  still inside the decoder are flushed out, but none is returned for a target whose on-screen
  frame never arrived (with B-frames, the frames just before the cut arrive after it). The
  sampler's ``on_truncated`` decides whether the shortfall is a warning or an error.
- Raw elementary streams have no timestamps: frames are timed by counting, so nothing is
  skipped there (fast modes decode every frame) and nothing is sought (it is impossible).
- Loops always end: demuxing stops at end of data, each target is sought at most once, and a
  seek that lands after its target is retried further back a bounded number of times.
- Measured (``bench/decode.py``, 1 hour 640x360 H.264 with B-frames): exact mode costs about
  0.6-0.7x the ffmpeg CLI's full decode, against about 1x for a plain PyAV loop and 0.8-1x for
  OpenCV grab/retrieve; so PyAV with frame skipping is the default and no second backend is
  registered.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal, Protocol

from longvid.registry import Registry
from longvid.errors import CorruptVideoError
from longvid.io.probe import open_input, video_stream

if TYPE_CHECKING:
    import numpy as np

    from longvid.io.geometry import Geometry
    from longvid.io.sampling import SamplingConfig
    from longvid.types import VideoInfo

logger = logging.getLogger(__name__)

# (RGB frame, its presentation time in seconds, index of the target it answers)
DecodedFrame = tuple["np.ndarray", float, int]


class Decoder(Protocol):
    def frames(
        self, info: VideoInfo, targets: np.ndarray, geometry: Geometry, cfg: SamplingConfig
    ) -> Iterator[DecodedFrame]:
        """Yield one frame per target, in target order (targets are sorted)."""
        ...


DECODERS: Registry[Decoder] = Registry("decoder")

# Times closer than this are the same instant: pts * time_base is not exact in binary floating
# point (24576 / 10240 gives 2.4000000000000004), and no container is finer than a microsecond.
EPS_S = 1e-6
_MAX_SEEK_TRIES = 6  # back-off doublings before seeking to the very start
_MAX_BAD_PACKETS = 100  # consecutive undecodable packets that end decoding (damaged beyond use)
# Frames closer than this many frame durations before a target are always decoded in exact mode:
# the frame on screen at a target starts less than one frame before it; the margin covers
# jittery timestamps. Wider gaps (variable rate) are caught and repaired, see _checked.
_WINDOW_FRAMES = 2.5
# Raw elementary streams: no container, no timestamps; frame times are counted at the stated rate.
_UNTIMED_FORMATS = frozenset({"h264", "hevc", "m4v", "mpegvideo", "vvc", "obu"})
_MAX_REPAIRS = 4  # repairs (a seek each) after which exact mode stops skipping for the rest of the run


def _report_truncated(info: VideoInfo, cfg: SamplingConfig, reached_s: float | None, missing: int, why: str):
    if reached_s is None:
        raise CorruptVideoError(
            f"{info.path!r}: no frame could be decoded ({why}); the file is damaged: re-download or re-encode it"
        )
    msg = (
        f"{info.path!r} ends early: decoded up to {reached_s:.2f} s of {info.start_s + info.duration_s:.2f} s "
        f"({why}); {missing} sample(s) after that point are missing"
    )
    if cfg.on_truncated == "error":
        raise CorruptVideoError(msg + "; the file is probably truncated: re-download it")
    logger.warning("%s; the file is probably truncated", msg)


class PyAVDecoder:
    """Sequential PyAV decoding with per-packet frame skipping and seeks between sparse targets."""

    def __init__(self, policy: Literal["exact", "nonref", "keyframes"] = "exact", *, skip_far: bool = True) -> None:
        self.policy = policy
        self.skip_far = skip_far  # exact mode: skip non-reference frames far from every target
        # counters of the last run: frames out of the decoder, seeks, targets re-decoded exactly
        self.stats = {"decoded": 0, "seeks": 0, "repairs": 0}

    # -- packets -> frames, with the skip decision made per packet
    def _decode(self, container, vs, targets, window: float, state: dict):
        import av

        cc = vs.codec_context
        tb = float(vs.time_base)
        skipping = False
        bad_run = 0  # consecutive packets that failed to decode
        packets = container.demux(vs)
        try:
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.FFmpegError as exc:  # the container itself is cut or damaged: stop here
                    state["error"] = exc.strerror or str(exc)
                    state["at_end"] = True
                    try:  # the frames still inside the decoder are good: flush them out
                        yield from cc.decode(None)
                    except av.FFmpegError:
                        pass
                    break
                if packet.size == 0:  # end of data: the decoder is flushed next
                    state["at_end"] = True
                if packet.pts is not None:
                    t = packet.pts * tb
                    if t > state["demuxed"]:
                        state["demuxed"] = t
                    if self._skip_now:
                        j = bisect.bisect_left(targets, t - EPS_S)
                        need = j < len(targets) and targets[j] - t < window
                        if need == skipping:  # state changes only at window edges
                            skipping = not need
                            cc.skip_frame = "NONREF" if skipping else "DEFAULT"
                        if skipping:
                            state["skipped"].append(t)
                    elif skipping:  # skipping was just turned off (see _checked)
                        skipping = False
                        cc.skip_frame = "DEFAULT"
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:
                    # Damaged picture data: skip the packet, as players do, unless nothing decodes.
                    bad_run += 1
                    state["bad_packets"] += 1
                    logger.debug("packet at pts %s does not decode: %s", packet.pts, exc)
                    if bad_run >= _MAX_BAD_PACKETS:
                        state["error"] = f"{bad_run} packets in a row do not decode ({exc.strerror or exc})"
                        break
                    continue
                bad_run = 0
                yield from decoded
        finally:
            if skipping:
                cc.skip_frame = "DEFAULT"

    def frames(self, info, targets, geometry, cfg) -> Iterator[DecodedFrame]:
        with open_input(info.path) as container:
            yield from self._frames(container, info, targets, geometry, cfg)

    def _frames(self, container, info, targets, geometry, cfg) -> Iterator[DecodedFrame]:
        import av

        self.stats = stats = {"decoded": 0, "seeks": 0, "repairs": 0}
        self._keyframes: list[float] | None = None  # keyframe times from the index, read on first need
        self._skip_now = self.policy == "exact" and self.skip_far  # this run skips far frames
        vs = video_stream(container, info.path)
        cc = vs.codec_context
        policy = self.policy
        if container.format.name in _UNTIMED_FORMATS:
            # Frame times are counted, so no frame may be skipped: decode them all.
            if policy != "exact":
                logger.info("%s is a raw stream without timestamps: %s mode decodes every frame", info.path, policy)
            policy = "exact"
            self._skip_now = False
        if policy == "keyframes":
            cc.skip_frame = "NONKEY"
        else:
            cc.thread_type = "AUTO"
            if policy == "nonref":
                cc.skip_frame = "NONREF"
        tlist = targets.tolist()
        n = len(tlist)
        frame_s = 1.0 / info.fps if info.fps > 0 else 0.04
        window = _WINDOW_FRAMES * frame_s
        nearest = policy != "exact"
        tol_end = max(3 * frame_s, 1.0)  # targets this close after the last frame are still inside
        # skipped: times of packets sent while skipping; demuxed: latest packet time read
        # at_end: no packet is left, the decoder is giving out the frames it still holds
        state: dict = {"skipped": [], "error": None, "demuxed": float("-inf"), "bad_packets": 0, "at_end": False}
        expected_end = info.start_s + info.duration_s
        i = 0
        prev = None  # (frame, time) last decoded frame not yet passed
        last_conv: tuple = (None, None)  # (frame, its converted array): a frame kept for several targets

        def convert(frame) -> np.ndarray:
            nonlocal last_conv
            if last_conv[0] is not frame:  # identity, not id(): ids of freed frames are reused
                last_conv = (frame, geometry.convert(frame))
            return last_conv[1]

        def pick(f_prev, f_next, t):
            """The frame to return for target t, given the frames around it."""
            if f_prev is None:
                return f_next
            if nearest and f_next is not None and abs(f_next[1] - t) < abs(t - f_prev[1]):
                return f_next
            return f_prev

        can_seek = True
        seek_to = tlist[0] if tlist[0] - info.start_s > cfg.seek_threshold_s else None
        seeked_for = 0 if seek_to is not None else -1  # never seek twice for the same target
        tries = 0
        while i < n:
            after_seek = False
            if seek_to is not None and can_seek:
                back = 0.0 if tries == 0 else 2.0 ** (tries - 1)
                ts = seek_to - back if tries < _MAX_SEEK_TRIES else info.start_s - 1.0
                try:
                    container.seek(max(0, int(ts / float(vs.time_base))) if ts > 0 else 0, stream=vs, backward=True)
                except av.FFmpegError as exc:  # raw streams and pipes cannot seek: decode on instead
                    logger.debug("%s cannot seek (%s); decoding sequentially", info.path, exc)
                    can_seek = False
                else:
                    cc.flush_buffers()
                    stats["seeks"] += 1
                    state["skipped"].clear()
                    prev, after_seek = None, True
            seek_to = None
            resumed = False
            for frame in self._decode(container, vs, tlist, window, state):
                stats["decoded"] += 1
                t_f = frame.time if frame.pts is not None else ((prev[1] + frame_s) if prev else info.start_s)
                cur = (frame, t_f)
                if after_seek and prev is None and t_f > tlist[i] + EPS_S and tries < _MAX_SEEK_TRIES:
                    seek_to, tries = tlist[i], tries + 1  # landed after the target: seek further back
                    resumed = True
                    break
                if (
                    state["at_end"]
                    and prev is not None
                    and t_f - prev[1] > 1.5 * frame_s
                    and (state["error"] or state["demuxed"] + frame_s < expected_end - tol_end)
                ):
                    # The data is cut and the frames between these two never arrived (B-frames
                    # come after the frame they precede): what was on screen there is unknown.
                    break
                while i < n and t_f > tlist[i] + EPS_S:
                    arr, pts = self._checked(pick(prev, cur, tlist[i]), tlist[i], state, convert, info, geometry)
                    yield arr, pts, i
                    i += 1
                prev = cur
                if (
                    can_seek
                    and i < n
                    and i != seeked_for
                    and tlist[i] - t_f > cfg.seek_threshold_s
                    and policy != "keyframes"
                    and self._keyframe_between(vs, t_f, tlist[i])
                ):
                    seek_to, tries, seeked_for = tlist[i], 0, i
                    resumed = True
                    break
                if i >= n:
                    break
            if resumed:
                continue
            if i >= n:
                break
            # End of file (or a decode error): targets just past the last frame get the last frame.
            if after_seek and prev is None and tries < _MAX_SEEK_TRIES and state["error"] is None and can_seek:
                seek_to, tries = tlist[i], tries + 1
                continue
            end_t = max(prev[1], state["demuxed"]) if prev is not None else None
            if prev is not None and (state["error"] or end_t + frame_s < expected_end - tol_end):
                # Cut short (an error, or the data ends well before the stated duration): only
                # the last frame's own span is known to be on screen.
                end_t, tol_end = prev[1], frame_s * 0.999
            while prev is not None and i < n and tlist[i] - end_t <= tol_end:
                arr, pts = self._checked(prev, tlist[i], state, convert, info, geometry)
                yield arr, pts, i
                i += 1
            if i < n:
                why = f"decode error: {state['error']}" if state["error"] else "end of data"
                _report_truncated(info, cfg, end_t, n - i, why)
            break

    def _keyframe_between(self, vs, after_s: float, until_s: float) -> bool:
        """Whether a seek would land past ``after_s``: a keyframe lies in (after_s, until_s].

        Uses the demuxer's index where it lists every keyframe (MP4/MOV); elsewhere assumes yes.
        A long GOP then costs no pointless backward seeks and re-decoding.
        """
        if self._keyframes is None:
            self._keyframes = _keyframe_times(vs) or []
        if not self._keyframes:
            return True
        j = bisect.bisect_right(self._keyframes, until_s + EPS_S) - 1
        return j >= 0 and self._keyframes[j] > after_s + EPS_S

    def _checked(self, chosen, t, state, convert, info, geometry) -> tuple[np.ndarray, float]:
        """Convert the chosen frame; in exact mode, repair it if a skipped frame was on screen at t."""
        if self.policy == "exact" and state["skipped"]:
            p = chosen[1]
            skipped = state["skipped"]
            late = [s for s in skipped if p + EPS_S < s <= t + EPS_S]
            state["skipped"] = [s for s in skipped if s > p + EPS_S]
            if late:
                logger.info("frame at %.3f s was skipped; re-decoding target %.3f s exactly", late[-1], t)
                self.stats["repairs"] += 1
                if self.stats["repairs"] >= _MAX_REPAIRS:
                    # Frame times are far sparser than the stated rate: stop skipping altogether.
                    logger.info("%s: frames are sparser than %.3f fps; decoding every frame", info.path, info.fps)
                    self._skip_now = False
                return exact_frame_at(info, t, geometry)
        return convert(chosen[0]), chosen[1]


def _keyframe_times(vs) -> list[float] | None:
    """Sorted keyframe times (decode times, a frame or two early) from an MP4/MOV index."""
    if not vs.container.format.name.startswith("mov,mp4"):
        return None
    entries = vs.index_entries
    if not entries:
        return None
    tb = float(vs.time_base)
    return sorted(e.timestamp * tb for e in entries if e.is_keyframe)


def exact_frame_at(info: VideoInfo, t: float, geometry: Geometry) -> tuple[np.ndarray, float]:
    """The frame on screen at ``t`` by an accurate seek and a decode with nothing skipped."""
    from longvid.io.sampling import SamplingConfig

    import numpy as np

    dec = PyAVDecoder("exact", skip_far=False)
    cfg = SamplingConfig(fps=1.0, seek_threshold_s=EPS_S, on_truncated="error")
    with open_input(info.path) as container:
        for arr, pts, _ in dec._frames(container, info, np.array([t]), geometry, cfg):
            return arr, pts
    raise CorruptVideoError(f"{info.path!r}: no frame at {t:.3f} s could be decoded")


@DECODERS.register("pyav-exact")
def _pyav_exact() -> Decoder:
    return PyAVDecoder("exact")


@DECODERS.register("pyav-nonref")
def _pyav_nonref() -> Decoder:
    return PyAVDecoder("nonref")


@DECODERS.register("pyav-keyframes")
def _pyav_keyframes() -> Decoder:
    return PyAVDecoder("keyframes")
