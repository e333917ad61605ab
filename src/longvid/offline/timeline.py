"""From stage outputs to a timeline of segments (span, transcript, on-screen text, tags, keyframe).

Design decisions:
- Scenes: a new scene starts where a frame's features fall below ``scene_cut_similarity``
  (cosine) against the current scene's mean, or at a hard cut in the thumbnails. Scenes longer than
  ``max_segment_s`` are split evenly, so a cited moment is never vague ("somewhere in this
  20-minute talk").
- A spoken line or subtitle belongs to the segment it overlaps most; on-screen text belongs to
  every segment it is visible in. Tags: the scene's mean ImageNet probabilities, top labels above
  ``tag_min_prob`` (weak, but they make "a dog" findable when nobody says "dog").
- The keyframe of a segment is the saved kept frame nearest its middle.
"""

from __future__ import annotations

import math

import numpy as np

from longvid.offline.config import IndexSettings
from longvid.offline.ocr import OcrRead
from longvid.offline.store import Segment
from longvid.types import TimedText


def scene_bounds(features: np.ndarray, cuts: np.ndarray, threshold: float, min_frames: int = 1) -> list[tuple[int, int]]:
    """[start, end) frame ranges of scenes.

    A frame starts a new scene when its cosine similarity to the mean (unit) feature of the
    current scene falls below ``threshold``, or at a hard cut; comparing with the scene's mean,
    not the previous frame, keeps one odd frame (a flash, a passer-by) from splitting a scene.
    A would-be scene shorter than ``min_frames`` is not started.
    """
    t = len(features)
    if t == 0:
        return []
    f = features.astype(np.float32)
    f /= np.linalg.norm(f, axis=1, keepdims=True) + 1e-8
    starts = [0]
    acc = f[0].copy()
    for i in range(1, t):
        cos = float(f[i] @ acc) / (float(np.linalg.norm(acc)) + 1e-8)
        if (cos < threshold or cuts[i]) and i - starts[-1] >= min_frames:
            starts.append(i)
            acc = f[i].copy()
        else:
            acc += f[i]
    return list(zip(starts, starts[1:] + [t]))


def scene_tags(probs: np.ndarray, k: int, min_prob: float) -> tuple[str, ...]:
    from longvid.encoders.efficientnet_lite import imagenet_labels

    mean = probs.astype(np.float32).mean(0)
    top = np.argsort(-mean)[:k]
    labels = imagenet_labels()
    return tuple(labels[i] for i in top if mean[i] >= min_prob)


def build_segments(
    times: np.ndarray,
    features: np.ndarray,
    probs: np.ndarray,
    cuts: np.ndarray,
    keyframes: dict[int, str],
    speech: list[TimedText],
    on_screen: list[TimedText],
    settings: IndexSettings,
    duration_s: float,
) -> list[Segment]:
    step = 1.0 / settings.fps
    spans: list[tuple[float, float, tuple[str, ...], int, int]] = []
    for a, b in scene_bounds(
        features, cuts, settings.scene_cut_similarity, max(1, round(settings.min_scene_s * settings.fps))
    ):
        tags = scene_tags(probs[a:b], settings.tags_per_scene, settings.tag_min_prob)
        start = float(times[a]) if a else 0.0
        end = float(times[b]) if b < len(times) else max(duration_s, float(times[b - 1]) + step)
        n = max(1, math.ceil((end - start) / settings.max_segment_s - 1e-9))
        for j in range(n):
            spans.append((start + (end - start) * j / n, start + (end - start) * (j + 1) / n, tags, a, b))
    if not spans:  # no frames (cannot happen for a probed video, but keep the audio)
        spans = [(0.0, duration_s, (), 0, 0)]

    starts = np.array([s[0] for s in spans])
    kf_pos = np.array(sorted(keyframes), dtype=np.int64)
    kf_times = times[kf_pos] if len(kf_pos) else np.zeros(0)
    lines: list[list[TimedText]] = [[] for _ in spans]
    for item in speech:  # the segment overlapping the line most
        best, best_ov = None, -1.0
        i0 = max(0, int(np.searchsorted(starts, item.start_s, side="right")) - 1)
        for i in range(i0, len(spans)):
            s, e = spans[i][:2]
            if s > item.end_s:
                break
            ov = min(e, item.end_s) - max(s, item.start_s)
            if ov > best_ov:
                best, best_ov = i, ov
        lines[best if best is not None else i0].append(item)
    for item in on_screen:  # every segment it is visible in
        i0 = max(0, int(np.searchsorted(starts, item.start_s, side="right")) - 1)
        for i in range(i0, len(spans)):
            s, e = spans[i][:2]
            if s >= item.end_s:
                break
            if e > item.start_s:
                lines[i].append(item)

    segments = []
    for (s, e, tags, _, _), items in zip(spans, lines):
        items.sort(key=lambda x: (x.start_s, x.source))
        said = " ".join(x.text for x in items if x.source in ("speech", "subtitle"))
        shown = " | ".join(dict.fromkeys(x.text for x in items if x.source == "ocr"))
        keyframe = None
        if len(kf_times):
            keyframe = keyframes[int(kf_pos[np.argmin(np.abs(kf_times - (s + e) / 2))])]
        timed = tuple(
            {"start_s": round(x.start_s, 2), "end_s": round(x.end_s, 2), "text": x.text, "source": x.source}
            for x in items
        )
        segments.append(Segment(round(s, 3), round(e, 3), said, shown, tags, keyframe, timed))
    return segments


def ocr_track(reads: list[OcrRead], end_s: float) -> list[TimedText]:
    """Replay OCR reads (in time order) into de-duplicated spans, one per line of text.

    A read holds every line on screen (" | "-joined, in reading order) and stays true until the
    next read; ``None`` repeats the previous read. Each line is followed on its own: a caption
    keeps its span while a counter beside it changes, and a line whose text reads the same
    (``same_text``: a fuzzy match, for OCR jitter) across reads is one span.
    """
    from longvid.offline.ocr import LINE_SEP, same_text

    done: list[TimedText] = []
    open_: list[list] = []  # [start, end, text] of lines on screen at the last read
    lines: list[str] = []
    for i, read in enumerate(reads):
        if read.text is not None:
            lines = [ln.strip() for ln in read.text.split(LINE_SEP) if ln.strip()]
        nxt = reads[i + 1].time_s if i + 1 < len(reads) else end_s
        nxt = max(nxt, read.time_s)
        still: list[list] = []
        for ln in lines:
            match = next((o for o in open_ if same_text(o[2], ln)), None)
            if match is not None:
                open_.remove(match)
                match[1] = nxt
                still.append(match)
            else:
                still.append([read.time_s, nxt, ln])
        done.extend(TimedText(s, e, t, "ocr", 1.0) for s, e, t in open_)  # lines gone from the screen
        open_ = still
    done.extend(TimedText(s, e, t, "ocr", 1.0) for s, e, t in open_)
    return sorted(done, key=lambda x: x.start_s)
