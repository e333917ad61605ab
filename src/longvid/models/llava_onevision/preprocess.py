"""LLaVA-OneVision's video pixels, laid out as its video processor does, in plain torch.

Design decisions:
- The released video processor resizes every frame to one fixed square (``size``, 384x384 for
  the released models; no aspect-preserving resize, no crop), rescales by 1/255 and normalises
  (SigLIP's mean/std 0.5 in the released files). Frames come from longvid's io; each batch is
  shrunk as it arrives, so memory holds only the resized frames.
- transformers' video processor needs torchvision; this one is plain torch (bicubic with
  antialias, on uint8 frames rounded back to uint8, as torchvision resizes a uint8 tensor).
- Every setting is read from the checkpoint's ``video_preprocessor_config.json`` (or
  ``preprocessor_config.json``), the one place it lives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from longvid.errors import ModelLoadError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # transformers' class defaults, when a file names none
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class OnevisionPreprocessor:
    height: int  # size.height
    width: int  # size.width
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    rescale_factor: float = 1 / 255

    @classmethod
    def from_folder(cls, folder: str | Path) -> OnevisionPreprocessor:
        folder = Path(folder)
        for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
            p = folder / name
            if p.is_file():
                raw = json.loads(p.read_text())
                break
        else:
            raise ModelLoadError(f"{folder} has no video_preprocessor_config.json or preprocessor_config.json; "
                                 "copy the processor files of the released model next to its config.json")
        size = raw.get("size") or {}
        h, w = size.get("height"), size.get("width")
        if h is None or w is None:
            edge = size.get("shortest_edge")
            if edge is None:
                raise ModelLoadError(f"{p}: no frame size (size.height/width)")
            h = w = edge
        return cls(int(h), int(w), tuple(raw.get("image_mean", CLIP_MEAN)), tuple(raw.get("image_std", CLIP_STD)),
                   float(raw.get("rescale_factor", 1 / 255)))

    def resize(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` -> uint8 ``(T, 3, height, width)``."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        if tuple(x.shape[2:]) == (self.height, self.width):
            return x
        y = F.interpolate(x.float(), size=(self.height, self.width), mode="bicubic", antialias=True,
                          align_corners=False)
        return y.round().clamp(0, 255).to(torch.uint8)

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 RGB ``(T, H, W, 3)`` -> ``pixel_values_videos`` ``(1, T, 3, height, width)``."""
        x = self.resize(frames).float() * self.rescale_factor
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return ((x - mean) / std)[None]
