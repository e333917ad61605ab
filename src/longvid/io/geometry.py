"""Output geometry of sampled frames: rotation, resize, pad-to-square, centre crop.

Design decisions:
- Scaling happens in FFmpeg's swscale during the YUV->RGB conversion (``VideoFrame.reformat``
  with a width and height), so a 4K frame is never materialised at full size in RGB; this costs
  about the same as the conversion alone.
- Non-square pixels (anamorphic video) are made square by the same scaling: sizes are planned
  on the display aspect. ``resize="none"`` keeps the decoded pixels as they are.
- Rotation metadata is applied after scaling, on the small RGB array (``np.rot90``): the scale
  size is computed in display orientation and swapped for the coded orientation.
- Pad and crop are done on the scaled array with numpy: padding copies a small array once,
  cropping is a view made contiguous.
- ``pad`` follows LongVU (scale the long side to ``size``, pad to a square with a constant
  colour, by default the SigLIP processor mean); ``crop`` follows LongVA/CLIP (scale the short
  side to ``size``, centre crop); ``stretch`` ignores aspect; ``none`` keeps the decoded size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from longvid.io.options import ResizeMode

if TYPE_CHECKING:
    import av
    import numpy as np


@dataclass(frozen=True)
class Geometry:
    """How to turn one decoded frame into the output array. Built by :func:`plan_geometry`."""

    scale_wh: tuple[int, int] | None  # (w, h) to scale to, in coded orientation; None = keep
    rotation: int  # degrees clockwise, applied after scaling
    out_wh: tuple[int, int]  # final (w, h)
    mode: ResizeMode
    pad_rgb: tuple[int, int, int]

    def convert(self, frame: av.VideoFrame) -> np.ndarray:
        """Decoded frame -> (H, W, 3) uint8 RGB, contiguous."""
        import numpy as np

        if self.scale_wh is not None and (frame.width, frame.height) != self.scale_wh:
            w, h = self.scale_wh
            arr = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
        else:
            arr = frame.to_ndarray(format="rgb24")
        if self.rotation:
            arr = np.rot90(arr, k=-self.rotation // 90)  # rot90 turns counter-clockwise
        ow, oh = self.out_wh
        h, w = arr.shape[:2]
        if self.mode == "crop" and (w, h) != (ow, oh):
            y0, x0 = (h - oh) // 2, (w - ow) // 2
            arr = arr[y0 : y0 + oh, x0 : x0 + ow]
        elif self.mode == "pad" and (w, h) != (ow, oh):
            out = np.empty((oh, ow, 3), dtype=np.uint8)
            out[:] = self.pad_rgb
            y0, x0 = (oh - h) // 2, (ow - w) // 2
            out[y0 : y0 + h, x0 : x0 + w] = arr
            return out
        return np.ascontiguousarray(arr)


def plan_geometry(
    coded_wh: tuple[int, int],
    rotation: int,
    size: int | None,
    mode: ResizeMode,
    pad_rgb: tuple[int, int, int],
    pixel_aspect: float = 1.0,
) -> Geometry:
    """Scale size and final size for a video of ``coded_wh`` shown with ``rotation``."""
    cw, ch = coded_wh
    if mode == "none":
        return Geometry(None, rotation, (ch, cw) if rotation in (90, 270) else (cw, ch), mode, pad_rgb)
    sq_w = cw * pixel_aspect  # width in square pixels (unrounded: keeps the aspect of tiny frames)
    dw, dh = (ch, sq_w) if rotation in (90, 270) else (sq_w, ch)
    side = size if size is not None else max(1, round(max(dw, dh) if mode == "pad" else min(dw, dh)))
    if mode == "stretch":
        sw, sh = side, side
    elif mode == "pad":
        k = side / max(dw, dh)
        sw, sh = max(1, round(dw * k)), max(1, round(dh * k))
    else:  # crop: the short side becomes ``side``
        k = side / min(dw, dh)
        sw, sh = max(side, round(dw * k)), max(side, round(dh * k))
    scale = (sh, sw) if rotation in (90, 270) else (sw, sh)
    if scale == (cw, ch):
        scale = None
    return Geometry(scale, rotation, (side, side), mode, pad_rgb)
