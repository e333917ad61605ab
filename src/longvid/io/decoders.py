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
- Exact mode also never sends to the decoder what no target needs (``_GopPlanner``, packets
  read two GOPs ahead): a GOP whose packet times hold no target, the tail of a GOP after its
  last target, and open-GOP leading pictures on screen at no target. This rests on the one
  assumption every seek makes (a keyframe is a random-access point), is exact on any frame
  timing (it compares packet times with targets, not rates), and is what brings short-GOP and
  all-intra files, whose frames are nearly all reference frames, well under a full decode.
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
- Layering: a decoder takes exactly the two options it acts on (``seek_threshold_s``,
  ``on_truncated``), keyword-only; it knows nothing of ``SamplingConfig`` (``sampling`` imports
  this module, never the reverse). The decoder object holds only its mode and the counters of
  its last run (``DecodeStats``); one run's state lives in a ``_DecodeRun`` made per call:
  ``_PacketState`` for the demux/decode loop, ``_SeekState`` for seeking, and the mode's fixed
  ``_ModeRules``.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from longvid.registry import Registry
from longvid.errors import CorruptVideoError
from longvid.io.options import DecodeMode, OnTruncated, check_choice
from longvid.io.probe import index_entries, open_input, video_stream

if TYPE_CHECKING:
    import av
    import numpy as np

    from longvid.io.geometry import Geometry
    from longvid.types import VideoInfo

logger = logging.getLogger(__name__)

# (RGB frame, its presentation time in seconds, index of the target it answers)
DecodedFrame = tuple["np.ndarray", float, int]


class Decoder(Protocol):
    def frames(
        self,
        info: VideoInfo,
        targets: np.ndarray,
        geometry: Geometry,
        *,
        seek_threshold_s: float,
        on_truncated: OnTruncated,
    ) -> Iterator[DecodedFrame]:
        """Yield one frame per target, in target order (targets are sorted).

        ``seek_threshold_s``: seek instead of decoding through when the next target is this far
        ahead. ``on_truncated``: a file that ends early warns ("warn") or raises
        ``CorruptVideoError`` ("error") after the frames it has.
        """
        ...


DECODERS: Registry[Decoder] = Registry("decoder")
register_decoder = DECODERS.register
create_decoder = DECODERS.create
list_decoders = DECODERS.list

# Times closer than this are the same instant: pts * time_base is not exact in binary floating
# point (24576 / 10240 gives 2.4000000000000004), and no container is finer than a microsecond.
EPS_S = 1e-6
_MAX_SEEK_TRIES = 6  # back-off doublings before seeking to the very start
_MAX_BAD_PACKETS = 100  # consecutive undecodable packets that end decoding (damaged beyond use)
# Frames closer than this many frame durations before a target are always decoded in exact mode:
# the frame on screen at a target starts less than one frame before it; the margin covers
# jittery timestamps. Wider gaps (variable rate) are caught and repaired, see _DecodeRun._answer.
_WINDOW_FRAMES = 2.5
# Raw elementary streams: no container, no timestamps; frame times are counted at the stated rate.
_UNTIMED_FORMATS = frozenset({"h264", "hevc", "m4v", "mpegvideo", "vvc", "obu"})
_MAX_REPAIRS = 4  # repairs (a seek each) after which exact mode stops skipping for the rest of the run
_UNTIMED_FRAME_S = 0.04  # frame duration assumed when a stream states no rate (25 fps)
# Packets held ahead to decide which GOPs a target needs (two GOPs): beyond this a GOP is decoded
# whole, so a stream with one keyframe an hour does not sit in memory.
_MAX_HELD_BYTES = 64 << 20


@dataclass
class DecodeStats:
    """Counters of one decoder run."""

    decoded: int = 0  # frames out of the decoder
    seeks: int = 0  # seeks done
    repairs: int = 0  # targets re-decoded exactly because a skipped frame was on screen
    dropped: int = 0  # packets never sent to the decoder (exact mode: no target needs them)


@dataclass(frozen=True)
class _ModeRules:
    """What a decode mode does differently; one instance per mode, see ``_RULES``."""

    codec_skip: Literal["DEFAULT", "NONREF", "NONKEY"]  # FFmpeg's skip_frame for the whole run
    threads: bool  # FFmpeg frame+slice threads (they make keyframe-only decoding ~3x slower)
    nearest: bool  # answer with the nearest decoded frame (fast modes), not the one on screen
    skip_far: bool  # skip non-reference packets far from every target (exact mode; repaired)
    seek_ahead: bool  # seek when the next target is far ahead (keyframes mode decodes too little to gain)


_RULES: dict[DecodeMode, _ModeRules] = {
    "exact": _ModeRules("DEFAULT", threads=True, nearest=False, skip_far=True, seek_ahead=True),
    "nonref": _ModeRules("NONREF", threads=True, nearest=True, skip_far=False, seek_ahead=True),
    "keyframes": _ModeRules("NONKEY", threads=False, nearest=True, skip_far=False, seek_ahead=False),
}


class _Frame(NamedTuple):
    """A decoded frame and its presentation time (seconds)."""

    frame: av.VideoFrame
    time: float


@dataclass
class _PacketState:
    """What the demux/decode loop has seen; read by the frame logic."""

    skipped: list[float] = field(default_factory=list)  # times of packets sent while skipping, not yet passed
    error: str | None = None  # why decoding stopped early (damaged container or packets)
    demuxed: float = float("-inf")  # latest packet time read
    bad_packets: int = 0  # packets that did not decode, in all
    at_end: bool = False  # no packet is left: the decoder is giving out the frames it still holds


@dataclass
class _SeekState:
    """Whether, where and how hard to seek next."""

    can_seek: bool = True  # False once the input refused a seek (raw streams, pipes)
    target: float | None = None  # a seek to do before decoding on: the target time to land before
    tries: int = 0  # seeks for the same target that landed after it (each backs off further)
    sought_for: int = -1  # index of the target last sought ahead for: never seek twice for one

    def ahead(self, t: float, i: int) -> None:
        self.target, self.tries, self.sought_for = t, 0, i

    def retry(self, t: float) -> None:
        self.target, self.tries = t, self.tries + 1

    def may_retry(self) -> bool:
        return self.tries < _MAX_SEEK_TRIES


def _report_truncated(
    info: VideoInfo, on_truncated: OnTruncated, reached_s: float | None, missing: int, why: str
) -> None:
    if reached_s is None:
        raise CorruptVideoError(
            f"{info.path!r}: no frame could be decoded ({why}); the file is damaged: re-download or re-encode it"
        )
    msg = (
        f"{info.path!r} ends early: decoded up to {reached_s:.2f} s of {info.start_s + info.duration_s:.2f} s "
        f"({why}); {missing} sample(s) after that point are missing"
    )
    if on_truncated == "error":
        raise CorruptVideoError(msg + "; the file is probably truncated: re-download it")
    logger.warning("%s; the file is probably truncated", msg)


class PyAVDecoder:
    """Sequential PyAV decoding with per-packet frame skipping and seeks between sparse targets."""

    def __init__(self, mode: DecodeMode = "exact", *, skip_far: bool = True, drop_gops: bool = True) -> None:
        check_choice("mode", mode, DecodeMode)
        self.mode: DecodeMode = mode
        self.skip_far = skip_far  # exact mode: skip non-reference frames far from every target
        self.drop_gops = drop_gops  # exact mode: never decode GOPs (or GOP tails) no target needs
        self.stats = DecodeStats()  # counters of the last run

    def frames(
        self,
        info: VideoInfo,
        targets: np.ndarray,
        geometry: Geometry,
        *,
        seek_threshold_s: float,
        on_truncated: OnTruncated,
    ) -> Iterator[DecodedFrame]:
        with open_input(info.path) as container:
            run = _DecodeRun(
                container, info, targets, geometry, self.mode,
                skip_far=self.skip_far, drop_gops=self.drop_gops, seek_threshold_s=seek_threshold_s, on_truncated=on_truncated,
            )
            self.stats = run.stats
            yield from run


class _DecodeRun:
    """One pass of a ``PyAVDecoder`` over one sorted list of targets; iterate it once."""

    def __init__(
        self,
        container: av.container.InputContainer,
        info: VideoInfo,
        targets: np.ndarray,
        geometry: Geometry,
        mode: DecodeMode,
        *,
        skip_far: bool,
        drop_gops: bool = True,
        seek_threshold_s: float,
        on_truncated: OnTruncated,
    ) -> None:
        self.container, self.info, self.geometry = container, info, geometry
        self.seek_threshold_s, self.on_truncated = seek_threshold_s, on_truncated
        self.stats = DecodeStats()
        self.vs = video_stream(container, info.path)
        if container.format.name in _UNTIMED_FORMATS:
            # Frame times are counted, so no frame may be skipped: decode them all.
            if mode != "exact":
                logger.info("%s is a raw stream without timestamps: %s mode decodes every frame", info.path, mode)
            mode = "exact"
            skip_far = drop_gops = False
        self.mode = mode
        self.rules = _RULES[mode]
        self.skip_now = self.rules.skip_far and skip_far  # this run skips far frames (until too many repairs)
        self.drop_gops = mode == "exact" and drop_gops  # fast modes answer with nearby frames: keep them
        self._demux_failed = False  # the container failed to demux (set by _packets)
        cc = self.vs.codec_context
        if self.rules.threads:
            cc.thread_type = "AUTO"
        if self.rules.codec_skip != "DEFAULT":
            cc.skip_frame = self.rules.codec_skip
        self.targets: list[float] = targets.tolist()
        self.frame_s = 1.0 / info.fps if info.fps > 0 else _UNTIMED_FRAME_S
        self.window = _WINDOW_FRAMES * self.frame_s
        self.tol_end = max(3 * self.frame_s, 1.0)  # targets this close after the last frame are still inside
        self.expected_end = info.start_s + info.duration_s
        self.packets = _PacketState()
        self.seek = _SeekState()
        if self.targets and self.targets[0] - info.start_s > seek_threshold_s:
            self.seek.ahead(self.targets[0], 0)  # the first target is far in: seek straight to it
        self.i = 0  # next target to answer
        self.prev: _Frame | None = None  # last decoded frame not yet passed
        self._keyframes: list[float] | None = None  # keyframe times from the index, read on first need
        self._converted: tuple = (None, None)  # (frame, its array): a frame kept for several targets

    # -- the run: decode until every target is answered, seeking where that is cheaper
    def __iter__(self) -> Iterator[DecodedFrame]:
        n = len(self.targets)
        while self.i < n:
            after_seek = self._seek_if_asked()
            if (yield from self._decode_on(after_seek)):
                continue  # a seek was asked for
            if self.i >= n:
                break
            # End of file (or a decode error) right after a seek: it landed too late, back off.
            seek = self.seek
            landed_late = after_seek and self.prev is None
            if landed_late and seek.may_retry() and self.packets.error is None and seek.can_seek:
                self.seek.retry(self.targets[self.i])
                continue
            yield from self._answer_tail()
            break

    def _seek_if_asked(self) -> bool:
        """Do the seek asked for, if any and possible; whether one was done."""
        import av

        seek = self.seek
        target = seek.target
        seek.target = None
        if target is None or not seek.can_seek:
            return False
        back = 0.0 if seek.tries == 0 else 2.0 ** (seek.tries - 1)
        ts = target - back if seek.may_retry() else self.info.start_s - 1.0
        try:
            offset = max(0, int(ts / float(self.vs.time_base))) if ts > 0 else 0
            self.container.seek(offset, stream=self.vs, backward=True)
        except av.FFmpegError as exc:  # raw streams and pipes cannot seek: decode on instead
            logger.debug("%s cannot seek (%s); decoding sequentially", self.info.path, exc)
            seek.can_seek = False
            return False
        self.vs.codec_context.flush_buffers()
        self.stats.seeks += 1
        self.packets.skipped.clear()
        self.prev = None
        return True

    def _decode_on(self, after_seek: bool) -> Iterator[DecodedFrame]:
        """Decode from here, answering targets as frames pass them. Returns whether to seek next."""
        targets, n = self.targets, len(self.targets)
        for frame in self._decoded_frames():
            self.stats.decoded += 1
            cur = _Frame(frame, self._frame_time(frame))
            landed_late = after_seek and self.prev is None and cur.time > targets[self.i] + EPS_S
            if landed_late and self.seek.may_retry():
                self.seek.retry(targets[self.i])  # landed after the target: seek further back
                return True
            if self._frames_lost_before(cur):
                return False
            if self.prev is not None and cur.time < self.prev.time - EPS_S:
                # Out of display order: only damaged data (or references lost to it) does this.
                logger.debug("frame at %.3f s arrived after %.3f s; ignored", cur.time, self.prev.time)
                continue
            while self.i < n and cur.time > targets[self.i] + EPS_S:
                yield self._answer(self._pick(cur, targets[self.i]), self.i)
                self.i += 1
            self.prev = cur
            if self._worth_seeking_ahead(cur.time):
                self.seek.ahead(targets[self.i], self.i)
                return True
            if self.i >= n:
                return False
        return False

    def _frame_time(self, frame: av.VideoFrame) -> float:
        if frame.pts is not None:
            return frame.time
        return self.prev.time + self.frame_s if self.prev is not None else self.info.start_s  # counted

    def _frames_lost_before(self, cur: _Frame) -> bool:
        """At a cut in the data, whether frames between the last one and ``cur`` never arrived.

        With B-frames, the frames just before a cut arrive after it: what was on screen in the
        gap is unknown, so no target in it may be answered.
        """
        prev, pk = self.prev, self.packets
        return (
            pk.at_end
            and prev is not None
            and cur.time - prev.time > 1.5 * self.frame_s
            and bool(pk.error or pk.demuxed + self.frame_s < self.expected_end - self.tol_end)
        )

    def _worth_seeking_ahead(self, now_s: float) -> bool:
        i, seek = self.i, self.seek
        return (
            seek.can_seek
            and i < len(self.targets)
            and i != seek.sought_for
            and self.targets[i] - now_s > self.seek_threshold_s
            and self.rules.seek_ahead
            and self._keyframe_between(now_s, self.targets[i])
        )

    def _answer_tail(self) -> Iterator[DecodedFrame]:
        """After the last frame: targets just past it get it; the rest are reported missing."""
        prev, pk, n = self.prev, self.packets, len(self.targets)
        end_t = max(prev.time, pk.demuxed) if prev is not None else None
        tol_end = self.tol_end
        if prev is not None and (pk.error or end_t + self.frame_s < self.expected_end - tol_end):
            # Cut short (an error, or the data ends well before the stated duration): only
            # the last frame's own span is known to be on screen.
            end_t, tol_end = prev.time, self.frame_s * 0.999
        while prev is not None and self.i < n and self.targets[self.i] - end_t <= tol_end:
            yield self._answer(prev, self.i)
            self.i += 1
        if self.i < n:
            why = f"decode error: {pk.error}" if pk.error else "end of data"
            _report_truncated(self.info, self.on_truncated, end_t, n - self.i, why)

    # -- one target's answer
    def _pick(self, cur: _Frame, t: float) -> _Frame:
        """The frame to return for target t, given the frames around it."""
        prev = self.prev
        if prev is None:
            return cur
        if self.rules.nearest and abs(cur.time - t) < abs(t - prev.time):
            return cur
        return prev

    def _answer(self, chosen: _Frame, i: int) -> DecodedFrame:
        """Convert the chosen frame; in exact mode, repair it if a skipped frame was on screen at target i."""
        t = self.targets[i]
        skipped = self.packets.skipped
        if self.mode == "exact" and skipped:
            p = chosen.time
            late = [s for s in skipped if p + EPS_S < s <= t + EPS_S]
            self.packets.skipped = [s for s in skipped if s > p + EPS_S]
            if late:
                logger.info("frame at %.3f s was skipped; re-decoding target %.3f s exactly", late[-1], t)
                self.stats.repairs += 1
                if self.stats.repairs >= _MAX_REPAIRS:
                    # Frame times are far sparser than the stated rate: stop skipping altogether.
                    logger.info("%s: frames are sparser than %.3f fps; decoding every frame",
                                self.info.path, self.info.fps)
                    self.skip_now = False
                arr, pts = exact_frame_at(self.info, t, self.geometry)
                if pts >= p - EPS_S:  # an earlier frame: damaged data decodes differently after a seek
                    return arr, pts, i
        return self._convert(chosen.frame), chosen.time, i

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        if self._converted[0] is not frame:  # identity, not id(): ids of freed frames are reused
            self._converted = (frame, self.geometry.convert(frame))
        return self._converted[1]

    def _keyframe_between(self, after_s: float, until_s: float) -> bool:
        """Whether a seek would land past ``after_s``: a keyframe lies in (after_s, until_s].

        Uses the demuxer's index where it lists every keyframe (MP4/MOV); elsewhere assumes yes.
        A long GOP then costs no pointless backward seeks and re-decoding.
        """
        if self._keyframes is None:
            self._keyframes = _keyframe_times(self.vs) or []
        if not self._keyframes:
            return True
        j = bisect.bisect_right(self._keyframes, until_s + EPS_S) - 1
        return j >= 0 and self._keyframes[j] > after_s + EPS_S

    # -- packets -> frames, with the skip decision made per packet
    def _packets(self) -> Iterator[av.Packet]:
        """Demuxed packets to decode, in decode order; the GOP planner drops what no target needs."""
        import av

        tb = float(self.vs.time_base)
        pk = self.packets
        planner = _GopPlanner(self.targets, self.stats) if self.drop_gops else None
        packets = self.container.demux(self.vs)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as exc:  # the container itself is cut or damaged: stop here
                pk.error = exc.strerror or str(exc)
                self._demux_failed = True
                break
            t = packet.pts * tb if packet.pts is not None else None
            if t is not None and t > pk.demuxed:
                pk.demuxed = t
            if planner is None:
                yield packet
            elif packet.size == 0:  # end of data: what is held, then the decoder's flush
                yield from planner.flush()
                yield packet
            else:
                yield from planner.push(packet, t)
        if planner is not None:
            yield from planner.flush()

    # -- packets -> frames, with the skip decision made per packet
    def _decoded_frames(self) -> Iterator[av.VideoFrame]:
        import av

        cc = self.vs.codec_context
        tb = float(self.vs.time_base)
        targets, window, pk = self.targets, self.window, self.packets
        skipping = False
        bad_run = 0  # consecutive packets that failed to decode
        self._demux_failed = False
        try:
            for packet in self._packets():
                if packet.size == 0:  # end of data: the decoder is flushed next
                    pk.at_end = True
                if packet.pts is not None:
                    t = packet.pts * tb
                    if self.skip_now:
                        j = bisect.bisect_left(targets, t - EPS_S)
                        need = j < len(targets) and targets[j] - t < window
                        if need == skipping:  # state changes only at window edges
                            skipping = not need
                            cc.skip_frame = "NONREF" if skipping else "DEFAULT"
                        if skipping:
                            pk.skipped.append(t)
                    elif skipping:  # skipping was just turned off (see _answer)
                        skipping = False
                        cc.skip_frame = "DEFAULT"
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:
                    # Damaged picture data: skip the packet, as players do, unless nothing decodes.
                    bad_run += 1
                    pk.bad_packets += 1
                    logger.debug("packet at pts %s does not decode: %s", packet.pts, exc)
                    if bad_run >= _MAX_BAD_PACKETS:
                        pk.error = f"{bad_run} packets in a row do not decode ({exc.strerror or exc})"
                        break
                    continue
                bad_run = 0
                yield from decoded
            if self._demux_failed:
                pk.at_end = True
                try:  # the frames still inside the decoder are good: flush them out
                    yield from cc.decode(None)
                except av.FFmpegError:
                    pass
        finally:
            if skipping:
                cc.skip_frame = "DEFAULT"


# -- packets two GOPs ahead: GOPs, GOP tails and leading pictures no target needs are not decoded
@dataclass
class _Gop:
    """The packets (with their times) from one keyframe, in decode order, to the next."""

    key_pts: float | None  # the keyframe's time; None for packets before the first keyframe
    packets: list = field(default_factory=list)
    lo: float = float("inf")  # earliest packet time (a leading picture's, in an open GOP)
    hi: float = float("inf")  # the next keyframe's time, once it is read
    nbytes: int = 0
    timed: bool = True  # every packet has a time (otherwise the GOP is decoded whole)

    def add(self, packet, t: float | None) -> None:
        self.packets.append((packet, t))
        self.nbytes += packet.size
        if t is None:
            self.timed = False
        elif t < self.lo:
            self.lo = t


class _GopPlanner:
    """Holds packets two GOPs ahead and passes on only those a target's frame may depend on.

    A keyframe is taken as a random-access point (the assumption every seek makes too): the
    frames at or after it in display order need nothing decoded before it. For a GOP whose
    packet times span [lo, next keyframe):
    - no target in that span: no frame of it is on screen at a target, so none is decoded;
    - otherwise the packets after its last target L that form a suffix (in decode order) of
      packets all later than L are needed by no frame up to L, so they are not decoded, unless
      the next GOP's leading pictures (open GOP: shown before its keyframe, decoded after it,
      referring back into this GOP) are on screen at a target;
    - leading pictures on screen at no target are not decoded (their references may be gone).
    A GOP too large to hold (``_MAX_HELD_BYTES``) is passed on whole, and so is one with an
    untimed packet.
    """

    def __init__(self, targets: list[float], stats: DecodeStats) -> None:
        self.targets, self.stats = targets, stats
        self.prev: _Gop | None = None  # complete, held until the next GOP's leading pictures are known
        self.cur = _Gop(key_pts=None)
        self.passthrough = False  # after an overflow: pass packets on as they come until a keyframe

    def push(self, packet, t: float | None) -> list:
        """Take the next packet (decode order); return the packets now ready to decode."""
        out: list = []
        if packet.is_keyframe and t is not None:
            if not self.passthrough:
                self.cur.hi = t
                out = self._decide(self.prev, self.cur.lo) if self.prev is not None else []
                self.prev = self.cur if self.cur.packets else None
            self.passthrough = False
            self.cur = _Gop(key_pts=t)
        elif self.passthrough:
            return [packet]
        self.cur.add(packet, t)
        if self.cur.nbytes + (self.prev.nbytes if self.prev is not None else 0) > _MAX_HELD_BYTES:
            out += self._whole(self.prev) + self._whole(self.cur)
            self.prev, self.cur, self.passthrough = None, _Gop(key_pts=None), True
        return out

    def flush(self) -> list:
        """End of data: every packet still held that a target needs, in decode order."""
        out = self._decide(self.prev, self.cur.lo) if self.prev is not None else []
        out += self._decide(self.cur, float("inf"))
        self.prev, self.cur = None, _Gop(key_pts=None)
        return out

    @staticmethod
    def _whole(gop: _Gop | None) -> list:
        return [p for p, _ in gop.packets] if gop is not None else []

    def _has_target(self, lo: float, hi: float) -> bool:
        j = bisect.bisect_left(self.targets, lo - EPS_S)
        return j < len(self.targets) and self.targets[j] < hi - EPS_S

    def _decide(self, gop: _Gop, next_lo: float) -> list:
        """The packets of the complete ``gop`` to decode; ``next_lo``: the next GOP's earliest time."""
        pk, key, end = gop.packets, gop.key_pts, gop.hi
        if not pk:
            return []
        if not gop.timed or key is None:
            return self._whole(gop)
        if not self._has_target(gop.lo, end):
            self.stats.dropped += len(pk)
            return []
        keep = [True] * len(pk)
        if gop.lo < key - EPS_S and not self._has_target(gop.lo, key):
            for k, (_, t) in enumerate(pk):  # leading pictures on screen at no target
                keep[k] = t >= key - EPS_S
        if not (next_lo < end - EPS_S and self._has_target(next_lo, end)):
            last = self.targets[bisect.bisect_left(self.targets, end - EPS_S) - 1]
            k = len(pk)
            while k > 1 and pk[k - 1][1] > last + EPS_S:
                k -= 1
            keep[k:] = [False] * (len(pk) - k)
        out = [p for (p, _), ok in zip(pk, keep) if ok]
        self.stats.dropped += len(pk) - len(out)
        return out


def _keyframe_times(vs) -> list[float] | None:
    """Sorted keyframe times (decode times, a frame or two early) from an MP4/MOV index."""
    if not vs.container.format.name.startswith("mov,mp4"):
        return None
    entries = index_entries(vs)  # None on a PyAV without the index API: assume keyframes anywhere
    if not entries:
        return None
    tb = float(vs.time_base)
    return sorted(e.timestamp * tb for e in entries if e.is_keyframe)


def exact_frame_at(info: VideoInfo, t: float, geometry: Geometry) -> tuple[np.ndarray, float]:
    """The frame on screen at ``t`` by an accurate seek and a decode with nothing skipped."""
    import numpy as np

    with open_input(info.path) as container:
        run = _DecodeRun(
            container, info, np.array([t]), geometry, "exact",
            skip_far=False, seek_threshold_s=EPS_S, on_truncated="error",
        )
        for arr, pts, _ in run:
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
