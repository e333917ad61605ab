"""Scene changes between consecutive sampled frames (cheap, pixel-based): the one thumbnail cut detector.

Design decisions:
- A cut shows as a large mean absolute difference between small grey thumbnails (64x36 by
  default: enough to see composition, too small to see noise or compression artefacts). It runs
  on frames already sampled, so it costs nothing extra to decode, and needs no model.
- Conventions, fixed here for every caller: frames are ``(..., H, W, 3)`` uint8 RGB; a thumbnail
  is ``(..., h, w)`` float32 grey levels in ``[0, 255]`` (rows first, as numpy images are), made
  by an area-averaging resize of the ITU-R 601 luma. ``SceneConfig.thumb_wh`` is ``(w, h)``, the
  order image libraries take sizes in. A difference is the mean ``|a - b|`` over a thumbnail's
  pixels, also in ``[0, 255]``.
- The cut threshold is a field of ``SceneConfig``, never a constant of a caller: ``longvid
  sample``/``info`` reports use the default (30: a clear change of shot); a caller that wants
  more candidates (the offline engine's OCR of frames after a hard cut) passes its own
  ``SceneConfig(threshold=...)`` from its own config.
- ``SceneTracker`` does the same one frame at a time, holding one thumbnail, for streams of any
  length. Feature-based segmentation can replace all of this later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from longvid.errors import InvalidFeaturesError

if TYPE_CHECKING:
    import numpy as np

MAX_GREY = 255.0  # thumbnails and their differences lie in [0, MAX_GREY]


@dataclass(frozen=True)
class SceneConfig:
    thumb_wh: tuple[int, int] = (64, 36)  # thumbnail (w, h) compared between samples
    threshold: float = 30.0  # mean |difference| of grey levels (0..255) above which a change is a cut

    def __post_init__(self) -> None:
        if len(self.thumb_wh) != 2 or not all(isinstance(s, int) and s >= 1 for s in self.thumb_wh):
            raise InvalidFeaturesError(f"thumb_wh={self.thumb_wh!r}: use two integers >= 1, (width, height)")
        if not (math.isfinite(self.threshold) and 0.0 <= self.threshold <= MAX_GREY):
            raise InvalidFeaturesError(
                f"threshold={self.threshold!r} is a mean grey-level difference: use 0 <= threshold <= 255"
            )


def thumbnail(frames: np.ndarray, cfg: SceneConfig = SceneConfig()) -> np.ndarray:
    """``(..., H, W, 3)`` uint8 RGB frames -> ``(..., h, w)`` float32 grey thumbnails in ``[0, 255]``.

    One frame ``(H, W, 3)`` gives one ``(h, w)`` thumbnail; a batch ``(B, H, W, 3)`` gives
    ``(B, h, w)``. ``(w, h)`` is ``cfg.thumb_wh``; the resize averages areas (box filter).
    """
    import numpy as np
    from PIL import Image

    x = np.asarray(frames)
    if x.ndim < 3 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise InvalidFeaturesError(
            f"frames must be uint8 RGB of shape (..., H, W, 3), got {x.dtype} {tuple(x.shape)}"
        )
    w, h = cfg.thumb_wh
    lead = x.shape[:-3]
    flat = x.reshape((-1, *x.shape[-3:]))
    out = np.empty((len(flat), h, w), dtype=np.float32)
    for k, frame in enumerate(flat):
        grey = Image.fromarray(np.ascontiguousarray(frame)).convert("L").resize((w, h), Image.Resampling.BOX)
        out[k] = np.asarray(grey, dtype=np.float32)
    return out.reshape((*lead, h, w))


def thumbnail_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute grey-level difference of two ``(h, w)`` thumbnails, in ``[0, 255]``."""
    import numpy as np

    if np.shape(a) != np.shape(b) or np.ndim(a) != 2:
        raise InvalidFeaturesError(f"thumbnails must both be (h, w), got {np.shape(a)} and {np.shape(b)}")
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def is_cut(prev: np.ndarray | None, cur: np.ndarray, cfg: SceneConfig = SceneConfig()) -> bool:
    """Whether thumbnail ``cur`` starts a new scene after ``prev`` (never after no frame)."""
    return prev is not None and thumbnail_difference(prev, cur) > cfg.threshold


def consecutive_differences(thumbs: np.ndarray) -> np.ndarray:
    """``(T, h, w)`` thumbnails -> ``(T - 1,)`` float32 differences between neighbours, in ``[0, 255]``."""
    import numpy as np

    thumbs = np.asarray(thumbs, dtype=np.float32)
    if thumbs.ndim != 3:
        raise InvalidFeaturesError(f"thumbnails must be (T, h, w), got {tuple(thumbs.shape)}")
    if len(thumbs) < 2:
        return np.zeros(0, dtype=np.float32)
    return np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))


def scene_changes(thumbs: np.ndarray, cfg: SceneConfig = SceneConfig()) -> np.ndarray:
    """Indices ``i`` (>= 1) where sample ``i`` starts a new scene, from ``(T, h, w)`` thumbnails."""
    import numpy as np

    return (np.nonzero(consecutive_differences(thumbs) > cfg.threshold)[0] + 1).astype(np.int64)


class SceneTracker:
    """Streaming form of :func:`scene_changes`: feed frames in order, learn which start a scene."""

    def __init__(self, cfg: SceneConfig = SceneConfig()) -> None:
        self.cfg = cfg
        self._prev: np.ndarray | None = None

    def update(self, frame: np.ndarray) -> bool:
        """Whether ``frame`` (``(H, W, 3)`` uint8 RGB) starts a new scene (never true for the first)."""
        thumb = thumbnail(frame, self.cfg)
        prev, self._prev = self._prev, thumb
        return is_cut(prev, thumb, self.cfg)
