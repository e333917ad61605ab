"""Scene changes between consecutive sampled frames (cheap, pixel-based).

Design decision: a cut shows as a large mean absolute difference between small grey thumbnails
(64x36: enough to see composition, too small to see noise or compression artefacts). It runs on
frames already sampled, so it costs nothing extra to decode. Feature-based segmentation can
replace it later; this one is for ``longvid sample``/``info`` reports and needs no model.
``SceneTracker`` does the same one frame at a time, holding one thumbnail, for streams of any
length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SceneConfig:
    thumb_wh: tuple[int, int] = (64, 36)  # thumbnail (w, h) compared between samples
    threshold: float = 30.0  # mean |difference| of grey levels (0..255) that counts as a cut


def thumbnail(frame: np.ndarray, cfg: SceneConfig = SceneConfig()) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (h, w) float32 grey thumbnail (area-averaged)."""
    import numpy as np
    from PIL import Image

    grey = Image.fromarray(frame).convert("L").resize(cfg.thumb_wh, Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.float32)


def scene_changes(thumbs: np.ndarray, cfg: SceneConfig = SceneConfig()) -> np.ndarray:
    """Indices ``i`` (>= 1) where sample ``i`` starts a new scene, from ``(T, h, w)`` thumbnails."""
    import numpy as np

    if len(thumbs) < 2:
        return np.zeros(0, dtype=np.int64)
    diff = np.abs(np.diff(thumbs.astype(np.float32), axis=0)).mean(axis=(1, 2))
    return (np.nonzero(diff > cfg.threshold)[0] + 1).astype(np.int64)


class SceneTracker:
    """Streaming form of :func:`scene_changes`: feed frames in order, learn which start a scene."""

    def __init__(self, cfg: SceneConfig = SceneConfig()) -> None:
        self.cfg = cfg
        self._prev: np.ndarray | None = None

    def update(self, frame: np.ndarray) -> bool:
        """Whether ``frame`` starts a new scene (never true for the first frame)."""
        import numpy as np

        thumb = thumbnail(frame, self.cfg)
        prev, self._prev = self._prev, thumb
        return prev is not None and float(np.abs(thumb - prev).mean()) > self.cfg.threshold
