"""The frame-encoder interface: ``encode(FrameBatch) -> FrameFeatures``, and what encoders share.

Design decisions:
- One call for every encoder. An encoder owns everything between decoded uint8 RGB frames and
  features: its preprocessing (resize, pad or crop, normalise), chunking into forward passes of
  bounded size, its device and its dtype. Callers never preprocess for it.
- The result is a :class:`~longvid.types.FrameFeatures`: ``(T, N, D)`` on the encoder's ``grid``
  (``(1, 1)`` for pooled features such as EfficientNet's), with each frame's timestamp and index
  copied from the batch, so provenance survives every later stage.
- Encoders may take extra keyword options of their own in ``encode`` (the transformers encoders
  take ``content_wh`` for frames already padded to a square); the one-argument call always works.
- Bad frames (wrong shape or dtype) are user input: a typed :class:`InvalidFeaturesError`.
- This module imports neither numpy nor torch at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from longvid.errors import InvalidFeaturesError
from longvid.types import FrameBatch, FrameFeatures

if TYPE_CHECKING:
    import numpy as np
    import torch


@runtime_checkable
class FrameEncoder(Protocol):
    """What every registered frame encoder provides."""

    name: str  # its registry name
    input_size: int  # side of the square picture its model sees, in pixels
    feature_dim: int  # D
    grid: tuple[int, int]  # (h, w) of the features it returns: N = h * w

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    def encode(self, batch: FrameBatch) -> FrameFeatures:
        """Features of the batch's frames, in batch order, with their timestamps and indices."""
        ...


def frames_batch(frames: np.ndarray, timestamps_s: np.ndarray | None = None) -> FrameBatch:
    """Wrap bare uint8 ``(B, H, W, 3)`` frames (still images, crops) as a :class:`FrameBatch`:
    indices ``0..B-1``, times ``timestamps_s`` or 0 (a still image has no time)."""
    import numpy as np

    frames = np.asarray(frames)
    check_frames(frames)
    n = len(frames)
    ts = np.zeros(n, np.float64) if timestamps_s is None else np.asarray(timestamps_s, np.float64)
    return FrameBatch(frames, ts, ts, np.arange(n, dtype=np.int64))


def check_frames(frames) -> None:
    """Raise :class:`InvalidFeaturesError` unless ``frames`` is uint8 ``(B, H, W, 3)`` RGB."""
    shape = tuple(getattr(frames, "shape", ()))
    dtype = str(getattr(frames, "dtype", type(frames).__name__))
    if len(shape) != 4 or shape[-1] != 3 or dtype not in ("uint8", "torch.uint8"):
        raise InvalidFeaturesError(
            f"frames must be uint8 RGB (B, H, W, 3), got shape {shape} dtype {dtype}; decode with "
            "longvid.io.sample_frames or convert with .astype(np.uint8)"
        )


def batch_features(batch: FrameBatch, features: torch.Tensor, grid: tuple[int, int]) -> FrameFeatures:
    """``features (T, N, D)`` of ``batch``'s frames as :class:`FrameFeatures` with its provenance."""
    import torch

    return FrameFeatures(features, tuple(grid), torch.as_tensor(batch.timestamps_s, dtype=torch.float64),
                         torch.as_tensor(batch.indices, dtype=torch.long))


def empty_features(batch: FrameBatch, grid: tuple[int, int], dim: int, *, device, dtype) -> FrameFeatures:
    """The result of encoding a batch with no frames."""
    import torch

    return batch_features(batch, torch.empty(0, grid[0] * grid[1], dim, device=device, dtype=dtype), grid)
