"""Pixel preprocessing for the vision towers, in plain torch on uint8 frames ``(B, H, W, 3)``.

Design decisions:
- No torchvision, no PIL round trip: frames are padded, resized and cropped as tensors, on the
  encoder's device. Bicubic with antialiasing stands in for PIL's bicubic resize.
- ``pad_to_square`` centres the picture on a square filled with a colour, at the offsets PIL's
  ``expand2square`` uses in the released LongVU/LongVA code; ``resize_center_crop`` is the CLIP
  processor's resize of the short side then centre crop.
- ``content_mask`` says which cells of a padded-to-square feature grid hold picture rather than
  padding, from a (width, height) pair, with the released code's arithmetic. Which pair is the
  caller's choice: the released LongVU code was trained and evaluated on a frame's (height, width)
  read as (width, height), and LongVU passes that by default (``LongVUConfig.size_reading``,
  docs/models.md).
- The order is the released one: pad at the frame's own resolution, then one antialiased bicubic
  resize per tower (PIL's bicubic is antialiased too; the difference left is PIL's 8-bit rounding
  between its two passes, a few levels at most).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from longvid.encoders.base import check_frames

if TYPE_CHECKING:
    import torch


def to_float_bchw(frames) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` (numpy or torch) -> float ``(B, 3, H, W)`` with values 0..255."""
    import numpy as np
    import torch

    check_frames(frames)
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    return frames.permute(0, 3, 1, 2).float()


def pad_to_square(x: torch.Tensor, fill: tuple[float, float, float]) -> torch.Tensor:
    """Pad ``(B, 3, H, W)`` pixels (0..255) to a centred square filled with ``fill`` (0..255)."""
    import torch

    b, c, h, w = x.shape
    side = max(h, w)
    if h == w:
        return x
    out = torch.empty(b, c, side, side, dtype=x.dtype, device=x.device)
    out[:] = torch.tensor(fill, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
    top, left = (side - h) // 2, (side - w) // 2  # the paste offsets of PIL's expand2square
    out[:, :, top : top + h, left : left + w] = x
    return out


def resize_center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the short side to ``size`` (bicubic) and crop the centre ``size x size``."""
    import torch.nn.functional as F

    _, _, h, w = x.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[:, :, top : top + size, left : left + size]


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic (antialiased) resize of square ``(B, 3, S, S)`` pixels to ``size x size``."""
    import torch.nn.functional as F

    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)


def refill_padding(x: torch.Tensor, content_wh: tuple[int, int], fill: tuple[float, float, float]) -> torch.Tensor:
    """Repaint the padding of already padded-to-square frames with this encoder's ``fill``.

    Frames sampled once for several encoders are padded with one colour; the released code pads
    each encoder's input with that encoder's own mean colour, restored here from the picture's
    (w, h).
    """
    import torch

    _, c, h, w = x.shape
    cw, ch = content_wh
    if h != w or cw == ch:
        return x
    side = h
    col = torch.tensor(fill, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
    if cw > ch:
        inner = round(ch * side / cw)
        top = (side - inner) // 2
        x[:, :, :top] = col
        x[:, :, top + inner :] = col
    else:
        inner = round(cw * side / ch)
        left = (side - inner) // 2
        x[:, :, :, :left] = col
        x[:, :, :, left + inner :] = col
    return x


def normalise(x: torch.Tensor, mean: tuple[float, float, float], std: tuple[float, float, float]) -> torch.Tensor:
    """Pixels 0..255 -> ``(x / 255 - mean) / std`` per channel (values clamped to 0..255 first)."""
    import torch

    x = x.clamp_(0, 255) / 255.0
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def content_mask(grid: tuple[int, int], image_wh: tuple[int, int]) -> torch.Tensor:
    """Boolean ``grid`` mask: True where a padded-to-square frame of size ``image_wh`` has picture.

    Rows (landscape) or columns (portrait) lying wholly in the padding are False, counted as the
    released code counts them: ``new = int(short * side / long)``, ``(side - new) // 2`` cells at
    each end.
    """
    import torch

    gh, gw = grid
    w, h = image_wh
    mask = torch.ones(gh, gw, dtype=torch.bool)
    if w / h > gw / gh:  # float arithmetic in the released order: int(short * (side / long))
        pad = (gh - int(h * (gw / w))) // 2
        if pad > 0:
            mask[:pad] = False
            mask[gh - pad :] = False
    else:
        pad = (gw - int(w * (gh / h))) // 2
        if pad > 0:
            mask[:, :pad] = False
            mask[:, gw - pad :] = False
    return mask
