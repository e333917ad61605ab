"""The visual pass: frame features, LongVU temporal reduction, OCR of kept frames, keyframes.

Design decisions:
- One streaming pass over the 1 fps frames. Per frame: EfficientNet-Lite0 pooled features and
  ImageNet probabilities (kept as float16: ~9 + 7 MB per hour), and a 64x36 grey thumbnail
  (``longvid.io.scenes.thumbnail``, the library's one thumbnail cut detector; the threshold is
  ``IndexSettings.hard_cut_diff``, lower than the io default so that more frames after a change
  of picture get an OCR read).
- LongVU temporal reduction (``longvid.compress.temporal.TemporalReducer``, windows of 16,
  threshold 0.83) decides which frames are *kept* (keyframes, scenes). OCR does not follow it:
  every sampled frame goes to the text-region tracker (``longvid.offline.text_regions``), which
  runs the text detector only where the picture changed and recognises only new or changed
  boxes, so text on screen for one sampled frame is read while static text is read once. A read
  (``OcrRead``) is recorded when the lines on screen change. The earlier rule (kept frames at
  most once per ``ocr_min_gap_s``, frames after a hard cut, skipping a near-identical
  thumbnail) remains as ``schedule="kept_frames"`` for comparison and for readers that cannot
  detect text on its own. Each frame's pixels,
  time, thumbnail and cut flag travel with it through the reducer as its payload and are acted
  on when its window closes (``Settled`` records), so at most ``window + batch`` frames are held
  and this module keeps no buffer of its own.
- Kept frames are saved as small JPEG keyframes for citing.
- Work is checkpointed every ``checkpoint_frames`` frames (a multiple of the window, so windows
  never straddle a checkpoint) as one ``.npz`` + ``.json`` pair written atomically; a resumed run
  re-decodes but does not re-encode or re-read frames it already has.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from longvid.offline.cache import atomic_path
from longvid.offline.config import IndexSettings
from longvid.offline.ocr import OcrRead
from longvid.offline.text_regions import RegionConfig, RegionStats, TextRegionTracker
from longvid.types import FrameBatch

logger = logging.getLogger(__name__)

OcrSchedule = Literal["regions", "kept_frames"]


@dataclass
class VisualTrack:
    """Everything the visual pass produced, in frame order."""

    times: np.ndarray  # (T,) float64
    features: np.ndarray  # (T, D) float16
    probs: np.ndarray  # (T, 1000) float16
    kept: np.ndarray  # (T,) bool, kept by temporal reduction
    cuts: np.ndarray  # (T,) bool, hard cut before this frame
    reads: list[OcrRead]  # OCR reads in time order
    keyframes: dict  # frame position -> JPEG file name
    ocr_stats: dict = field(default_factory=dict)  # OCR cost of the run that made it (RegionStats fields); empty when read back


def _save_jpeg(frame: np.ndarray, path: Path, side: int) -> None:
    from PIL import Image

    im = Image.fromarray(frame)
    im.thumbnail((side, side))
    im.save(path, quality=80)


def run_visual(
    video: str,
    work: Path,
    settings: IndexSettings,
    *,
    encoder,
    ocr,
    info,
    progress: Callable[[float, float], None] | None = None,
    schedule: OcrSchedule = "regions",
    regions: RegionConfig = RegionConfig(),
) -> VisualTrack:
    """One pass over ``video``'s sampled frames (see the module notes).

    ``schedule``: when OCR reads. "regions" (the default): every frame passes the text-region
    tracker (``longvid.offline.text_regions``), which detects text where the picture changed and
    recognises only new or changed boxes. "kept_frames": the earlier rule (kept frames at most
    once per ``ocr_min_gap_s``, frames after a hard cut), kept for comparison.
    """
    from longvid.compress.temporal import Settled, TemporalReducer
    from longvid.io import SamplingConfig, sample_frames
    from longvid.io.sampling import capped_rate
    from longvid.io.scenes import SceneConfig, is_cut, thumbnail, thumbnail_difference

    ckpt = settings.checkpoint_frames
    assert ckpt % settings.temporal.window_frames == 0, (ckpt, settings.temporal.window_frames)
    parts_dir = work / "visual"
    kf_dir = work / "keyframes"
    parts_dir.mkdir(parents=True, exist_ok=True)
    kf_dir.mkdir(parents=True, exist_ok=True)
    done = _load_parts(parts_dir)
    n_done = sum(len(p["times"]) for p in done)
    if n_done:
        logger.info("resuming the visual pass after %d frames", n_done)
    last_read_thumb = done[-1]["meta"]["last_read_thumb"] if done else None
    last_read_thumb = None if last_read_thumb is None else np.asarray(last_read_thumb, np.float32)
    prev_thumb = done[-1]["meta"]["prev_thumb"] if done else None
    prev_thumb = None if prev_thumb is None else np.asarray(prev_thumb, np.float32)

    scenes = SceneConfig(threshold=settings.hard_cut_diff)  # 64x36 grey thumbnails
    reducer: TemporalReducer[_Frame] = TemporalReducer(settings.temporal)
    chunk = _Chunk()
    rate = capped_rate(info, settings.fps)  # a video slower than the index rate: each of its frames
    step = 1.0 / rate
    total = info.duration_s
    last_read_t = -1e9
    last_text: str | None = None
    old_stats = RegionStats()
    tracker = None
    if ocr is not None and schedule == "regions":
        if hasattr(ocr, "detect") and hasattr(ocr, "recognise"):
            tracker = TextRegionTracker(ocr, regions)
        else:  # a reader that can only read whole frames
            logger.info("OCR engine %s cannot detect text alone: reading kept frames", type(ocr).__name__)

    def settle(settled: list[Settled[_Frame]]) -> None:
        """Frames whose window closed: record the decision, save keyframes, read text; then forget them."""
        nonlocal last_read_thumb, last_read_t, last_text
        for s in settled:
            fr = s.payload
            chunk.kept[fr.position] = s.kept
            if s.kept:
                name = f"{fr.position:06d}.jpg"
                _save_jpeg(fr.frame, kf_dir / name, settings.keyframe_side)
                chunk.keyframes[fr.position] = name
            if ocr is None:
                continue
            if tracker is not None:
                lines = tracker.update(fr.frame)
                if lines is not None:
                    text = " | ".join(ln.text for ln in lines)
                    if text != last_text:  # a read is recorded only when what is on screen changed
                        chunk.reads.append(OcrRead(fr.time_s, text))
                        last_text = text
                continue
            if not (fr.cut or (s.kept and fr.time_s - last_read_t >= settings.ocr_min_gap_s)):
                continue
            if last_read_thumb is not None and thumbnail_difference(fr.thumb, last_read_thumb) < settings.ocr_same_thumb_diff:
                chunk.reads.append(OcrRead(fr.time_s, None))
                continue
            t0 = time.perf_counter()
            lines = ocr.read(fr.frame)
            old_stats.recognise_s += time.perf_counter() - t0
            old_stats.recognitions += 1
            chunk.reads.append(OcrRead(fr.time_s, " | ".join(text for text, _ in lines)))
            last_read_thumb, last_read_t = fr.thumb, fr.time_s

    for batch in sample_frames(video, SamplingConfig(fps=rate, resize="none", batch_size=16), info=info):
        sel = batch.indices >= n_done
        if not sel.any():
            continue
        if not sel.all():  # resuming inside this batch: only the frames not yet checkpointed
            batch = FrameBatch(batch.frames[sel], batch.timestamps_s[sel], batch.targets_s[sel], batch.indices[sel])
        frames, times, positions = batch.frames, batch.timestamps_s, batch.indices
        feats = encoder.encode(batch)
        pooled = feats.features[:, 0]  # (B, 1280): one vector per frame on a 1x1 grid
        probs = encoder.class_logits(feats).softmax(-1).half().numpy()
        payloads = []
        for frame, t, pos, f, p in zip(frames, times, positions, pooled.half().numpy(), probs):
            th = thumbnail(frame, scenes)
            cut = is_cut(prev_thumb, th, scenes)
            prev_thumb = th
            payloads.append(_Frame(int(pos), float(t), frame, th, cut))
            chunk.add(int(pos), float(t), f, p, cut)
        settle(reducer.push(pooled, payloads))
        # a checkpoint holds only settled frames: checkpoint_frames is a multiple of the window
        if len(chunk.times) >= ckpt and reducer.pending == 0:
            _write_part(parts_dir, len(done), chunk, last_read_thumb, prev_thumb)
            done.append(chunk.as_part())
            chunk = _Chunk()
        if progress:
            progress(min(float(times[-1]) + step, total), total)
    settle(reducer.finish())
    # every frame of this run has its decision (nothing is left waiting for a window)
    assert reducer.pending == 0 and len(chunk.kept) == len(chunk.positions), (reducer.pending, len(chunk.kept))
    if chunk.times:
        _write_part(parts_dir, len(done), chunk, last_read_thumb, prev_thumb)
        done.append(chunk.as_part())
    if progress:
        progress(total, total)
    out = _merge(done)
    stats = tracker.stats if tracker is not None else old_stats
    out.ocr_stats = {**asdict(stats), "seconds": stats.seconds, "schedule": schedule if tracker is not None else "kept_frames"}
    return out


@dataclass(frozen=True)
class _Frame:
    """What the reducer carries with each frame until its window closes."""

    position: int  # frame position in the whole video (the resumed run's first is ``n_done``)
    time_s: float
    frame: np.ndarray  # RGB pixels: for the keyframe JPEG and OCR
    thumb: np.ndarray  # grey thumbnail: cut detection and OCR de-duplication
    cut: bool  # a hard cut lies just before this frame


class _Chunk:
    def __init__(self) -> None:
        self.positions: list[int] = []
        self.times: list[float] = []
        self.features: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []
        self.cuts: list[bool] = []
        self.kept: dict[int, bool] = {}
        self.reads: list[OcrRead] = []
        self.keyframes: dict[int, str] = {}

    def add(self, pos: int, t: float, f: np.ndarray, p: np.ndarray, cut: bool) -> None:
        self.positions.append(pos)
        self.times.append(t)
        self.features.append(f)
        self.probs.append(p)
        self.cuts.append(cut)

    def as_part(self) -> dict:
        return {
            "times": np.asarray(self.times, np.float64),
            "features": np.stack(self.features),
            "probs": np.stack(self.probs),
            "kept": np.asarray([self.kept[p] for p in self.positions], bool),
            "cuts": np.asarray(self.cuts, bool),
            "meta": {"reads": [[r.time_s, r.text] for r in self.reads], "keyframes": {str(k): v for k, v in self.keyframes.items()}},
        }


def _write_part(parts_dir: Path, k: int, chunk: _Chunk, last_read_thumb, prev_thumb) -> None:
    part = chunk.as_part()
    meta = dict(part["meta"])
    meta["last_read_thumb"] = None if last_read_thumb is None else last_read_thumb.tolist()
    meta["prev_thumb"] = None if prev_thumb is None else prev_thumb.tolist()
    # the .json is written last: a part counts only when both files are complete
    with atomic_path(parts_dir / f"part_{k:05d}.npz", suffix=".npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **{n: part[n] for n in ("times", "features", "probs", "kept", "cuts")})
    with atomic_path(parts_dir / f"part_{k:05d}.json") as tmp:
        tmp.write_text(json.dumps(meta))


def _load_parts(parts_dir: Path) -> list[dict]:
    parts = []
    k = 0
    while (parts_dir / f"part_{k:05d}.json").exists() and (parts_dir / f"part_{k:05d}.npz").exists():
        with np.load(parts_dir / f"part_{k:05d}.npz") as z:
            part = {n: z[n] for n in z.files}
        part["meta"] = json.loads((parts_dir / f"part_{k:05d}.json").read_text())
        parts.append(part)
        k += 1
    return parts


def _merge(parts: list[dict]) -> VisualTrack:
    if not parts:
        return VisualTrack(np.zeros(0), np.zeros((0, 1280), np.float16), np.zeros((0, 1000), np.float16),
                           np.zeros(0, bool), np.zeros(0, bool), [], {})
    offset = 0
    keyframes: dict[int, str] = {}
    reads: list[OcrRead] = []
    for p in parts:
        keyframes.update({int(k): v for k, v in p["meta"]["keyframes"].items()})
        reads.extend(OcrRead(float(t), txt) for t, txt in p["meta"]["reads"])
        offset += len(p["times"])
    return VisualTrack(
        times=np.concatenate([p["times"] for p in parts]),
        features=np.concatenate([p["features"] for p in parts]),
        probs=np.concatenate([p["probs"] for p in parts]),
        kept=np.concatenate([p["kept"] for p in parts]),
        cuts=np.concatenate([p["cuts"] for p in parts]),
        reads=reads,
        keyframes=keyframes,
    )
