"""UniRes image splitting for LongVA: pick a grid of 336-px crops, resize-and-pad, cut.

Design decisions (the LLaVA-NeXT anyres rules, in torch):
- The grid is the pinpoint resolution that keeps the most of the image's own pixels once scaled
  to fit, ties broken by the least padding.
- The image is scaled to fit that resolution keeping its aspect ratio (bicubic), centred on black,
  and cut into crops row by row. The base "overview" image LLaVA also encodes is dropped by
  LongVA's ``unires`` merge, so it is not computed here.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def best_resolution(wh: tuple[int, int], pinpoints) -> tuple[int, int]:
    w, h = wh
    best, best_eff, best_waste = None, -1, math.inf
    for pw, ph in pinpoints:
        scale = min(pw / w, ph / h)
        eff = min(int(w * scale) * int(h * scale), w * h)
        waste = pw * ph - eff
        if eff > best_eff or (eff == best_eff and waste < best_waste):
            best, best_eff, best_waste = (pw, ph), eff, waste
    return best


def split_crops(image, pinpoints, crop: int) -> tuple[np.ndarray, tuple[int, int]]:
    """``(H, W, 3)`` uint8 -> (``(ny*nx, crop, crop, 3)`` uint8 crops, (ny, nx))."""
    img = torch.as_tensor(np.ascontiguousarray(image))
    h, w = img.shape[:2]
    tw, th = best_resolution((w, h), pinpoints)
    if tw / w < th / h:
        nw, nh = tw, min(math.ceil(h * tw / w), th)
    else:
        nw, nh = min(math.ceil(w * th / h), tw), th
    x = img.permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True).clamp(0, 255)
    canvas = torch.zeros(1, 3, th, tw)
    top, left = (th - nh) // 2, (tw - nw) // 2
    canvas[:, :, top:top + nh, left:left + nw] = x
    ny, nx = th // crop, tw // crop
    crops = canvas[0].view(3, ny, crop, nx, crop).permute(1, 3, 2, 4, 0).reshape(ny * nx, crop, crop, 3)
    return crops.round().to(torch.uint8).numpy(), (ny, nx)
