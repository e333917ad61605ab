"""The visual pass: frame features, LongVU temporal reduction, OCR of kept frames, keyframes.

Design decisions:
- One streaming pass over the 1 fps frames. Per frame: EfficientNet-Lite0 pooled features and
  ImageNet probabilities (kept as float16: ~9 + 7 MB per hour), and a 64x36 grey thumbnail.
- LongVU temporal reduction (``longvid.compress.temporal.TemporalReducer``, windows of 16,
  threshold 0.83) decides which frames are *kept*. Only kept frames, plus frames right after a
  hard cut (large thumbnail change), are OCR candidates; kept frames are read at most once per
  ``ocr_min_gap_s`` (moving footage keeps many frames), and a candidate whose thumbnail is nearly
  identical to the frame last read is not read again (its text is known). Frames wait in a
  buffer only until their window closes: at most ``window + batch`` frames are held.
- Kept frames are saved as small JPEG keyframes for citing.
- Work is checkpointed every ``checkpoint_frames`` frames (a multiple of the window, so windows
  never straddle a checkpoint) as one ``.npz`` + ``.json`` pair written atomically; a resumed run
  re-decodes but does not re-encode or re-read frames it already has.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longvid.offline.cache import atomic_path
from longvid.offline.config import IndexSettings

logger = logging.getLogger(__name__)

THUMB_SIZE = (64, 36)  # grey thumbnail (w, h) for cut detection and OCR de-duplication
HARD_CUT_DIFF = 12.0  # mean abs thumbnail change (0-255) between frames that counts as a cut


@dataclass
class VisualTrack:
    """Everything the visual pass produced, in frame order."""

    times: np.ndarray  # (T,) float64
    features: np.ndarray  # (T, D) float16
    probs: np.ndarray  # (T, 1000) float16
    kept: np.ndarray  # (T,) bool, kept by temporal reduction
    cuts: np.ndarray  # (T,) bool, hard cut before this frame
    reads: list  # [(time_s, text | None)]: OCR reads; None = same as the previous read
    keyframes: dict  # frame position -> JPEG file name


def thumbnail(frame: np.ndarray) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


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
) -> VisualTrack:
    from longvid.compress.temporal import TemporalReducer
    from longvid.io import SamplingConfig, sample_frames

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

    reducer = TemporalReducer(settings.temporal)
    pending: dict[int, tuple[float, np.ndarray, bool]] = {}  # position -> (time, frame, cut)
    chunk = _Chunk()
    step = 1.0 / settings.fps
    total = info.duration_s

    last_read_t = -1e9

    window = settings.temporal.window_frames
    pushed = 0  # frames given to the reducer in this run; its positions start at 0, ours at n_done

    def resolve(kept_pos, upto: int) -> None:
        """Frames before position ``upto`` are settled (their window closed): save, read, forget."""
        nonlocal last_read_thumb, last_read_t
        kept_set = {int(p) + n_done for p in kept_pos}
        for pos in sorted(p for p in pending if p < upto):
            t, frame, cut = pending.pop(pos)
            is_kept = pos in kept_set
            chunk.kept[pos] = is_kept
            if is_kept:
                name = f"{pos:06d}.jpg"
                _save_jpeg(frame, kf_dir / name, settings.keyframe_side)
                chunk.keyframes[pos] = name
            if ocr is None or not (cut or (is_kept and t - last_read_t >= settings.ocr_min_gap_s)):
                continue
            th = thumbnail(frame)
            if last_read_thumb is not None and float(np.abs(th - last_read_thumb).mean()) < settings.ocr_same_thumb_diff:
                chunk.reads.append((t, None))
                continue
            lines = ocr.read(frame)
            chunk.reads.append((t, " | ".join(text for text, _ in lines)))
            last_read_thumb, last_read_t = th, t

    for batch in sample_frames(video, SamplingConfig(fps=settings.fps, resize="none", batch_size=16), info=info):
        sel = batch.indices >= n_done
        if not sel.any():
            continue
        frames = batch.frames[sel]
        times = batch.timestamps_s[sel]
        positions = batch.indices[sel]
        enc = encoder.encode(frames)
        probs = enc.logits.softmax(-1).half().numpy()
        for frame, t, pos, f, p in zip(frames, times, positions, enc.features.half().numpy(), probs):
            th = thumbnail(frame)
            cut = prev_thumb is not None and float(np.abs(th - prev_thumb).mean()) > HARD_CUT_DIFF
            prev_thumb = th
            pending[int(pos)] = (float(t), frame, cut)
            chunk.add(int(pos), float(t), f, p, cut)
        kept, _ = reducer.push(enc.features)
        pushed += len(frames)
        resolve(kept.tolist(), n_done + pushed // window * window)
        if len(chunk.times) >= ckpt and not pending:
            _write_part(parts_dir, len(done), chunk, last_read_thumb, prev_thumb)
            done.append(chunk.as_part())
            chunk = _Chunk()
        if progress:
            progress(min(float(times[-1]) + step, total), total)
    kept, _ = reducer.finish()
    resolve(kept.tolist(), n_done + pushed)
    assert not pending, sorted(pending)
    if chunk.times:
        _write_part(parts_dir, len(done), chunk, last_read_thumb, prev_thumb)
        done.append(chunk.as_part())
    if progress:
        progress(total, total)
    return _merge(done)


class _Chunk:
    def __init__(self) -> None:
        self.positions: list[int] = []
        self.times: list[float] = []
        self.features: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []
        self.cuts: list[bool] = []
        self.kept: dict[int, bool] = {}
        self.reads: list = []
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
            "meta": {"reads": self.reads, "keyframes": {str(k): v for k, v in self.keyframes.items()}},
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
    reads: list = []
    for p in parts:
        keyframes.update({int(k): v for k, v in p["meta"]["keyframes"].items()})
        reads.extend((float(t), txt) for t, txt in p["meta"]["reads"])
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
