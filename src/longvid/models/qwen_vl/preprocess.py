"""Qwen2-VL / Qwen2.5-VL video pixels: the released processor's resize, normalisation and patch layout.

Design decisions:
- The settings come from the checkpoint's own ``video_preprocessor_config.json`` (falling back
  to ``preprocessor_config.json``): pixel bounds, patch size, temporal patch, merge size,
  mean/std. Nothing is hard-coded per model size.
- Frames are sampled by longvid's io (exact timestamps); this module only turns them into
  ``pixel_values_videos`` and ``video_grid_thw`` exactly as transformers' video processor lays
  them out: one ``smart_resize`` size for the whole video, rescale, normalise, an odd frame count
  padded by repeating the last frame (the temporal patch is 2 frames), and patches ordered
  (temporal group, merged row, merged column, 2x2 inside the merge window).
- Qwen3-VL's processor applies its pixel bounds to the whole video (``frames * h * w``, the
  frame count rounded to whole temporal groups), so its size depends on the frame count:
  ``video_budget=True`` and ``target_hw(h, w, num_frames)``; the sampler plans the count first.
  (Its optional per-frame cap, off by default in the installed transformers, is not applied.)
- transformers' video processor needs torchvision; this one is plain torch, so it runs where
  torchvision is absent. Where the processor is installed, tests compare the two.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from longvid.errors import ModelLoadError


@dataclass(frozen=True)
class VideoPreprocessor:
    min_pixels: int  # size.shortest_edge in the processor's config
    max_pixels: int  # size.longest_edge
    patch_size: int = 14
    temporal_patch_size: int = 2  # frames per temporal group (the tower's 3D patch)
    merge_size: int = 2  # the merger's window: merge_size x merge_size patches -> one LLM token
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    rescale_factor: float = 1 / 255
    video_budget: bool = False  # pixel bounds for all frames together (Qwen3-VL), not per frame

    @classmethod
    def from_folder(cls, folder: str | Path, *, video_budget: bool = False) -> VideoPreprocessor:
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
        lo = raw.get("min_pixels", size.get("shortest_edge"))
        hi = raw.get("max_pixels", size.get("longest_edge"))
        if lo is None or hi is None:
            raise ModelLoadError(f"{p}: no pixel bounds (size.shortest_edge/longest_edge or min/max_pixels)")
        return cls(min_pixels=int(lo), max_pixels=int(hi), patch_size=int(raw.get("patch_size", 14)),
                   temporal_patch_size=int(raw.get("temporal_patch_size", 2)),
                   merge_size=int(raw.get("merge_size", 2)),
                   mean=tuple(raw.get("image_mean", cls.mean)), std=tuple(raw.get("image_std", cls.std)),
                   rescale_factor=float(raw.get("rescale_factor", 1 / 255)), video_budget=video_budget)

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    def target_hw(self, height: int, width: int, num_frames: int | None = None) -> tuple[int, int]:
        """The processor's ``smart_resize``: sides divisible by patch*merge, pixels within bounds
        (per frame; with ``video_budget``, over ``num_frames`` frames as Qwen3-VL's processor)."""
        f = self.factor
        if self.video_budget:
            if num_frames is None:
                raise ValueError("a video pixel budget needs the frame count: pass num_frames")
            tp = self.temporal_patch_size
            if height < f or width < f:  # the processor first scales tiny frames up to one window
                scale = max(f / height, f / width)
                height, width = int(height * scale), int(width * scale)
            n, t_bar = num_frames, max(tp, round(num_frames / tp) * tp)
        else:
            n = t_bar = 1
        h, w = max(f, round(height / f) * f), max(f, round(width / f) * f)
        if t_bar * h * w > self.max_pixels:
            beta = math.sqrt(n * height * width / self.max_pixels)
            h, w = max(f, math.floor(height / beta / f) * f), max(f, math.floor(width / beta / f) * f)
        elif t_bar * h * w < self.min_pixels:
            beta = math.sqrt(self.min_pixels / (n * height * width))
            h, w = math.ceil(height * beta / f) * f, math.ceil(width * beta / f) * f
        return h, w

    def merged_grid(self, height: int, width: int, num_frames: int | None = None) -> tuple[int, int]:
        """The (h, w) grid of LLM tokens per temporal group for frames of this size."""
        h, w = self.target_hw(height, width, num_frames)
        return h // self.factor, w // self.factor

    def resize(self, frames: np.ndarray, size: tuple[int, int] | None = None,
               num_frames: int | None = None) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` -> uint8 ``(T, 3, h, w)`` at ``size`` (default: ``target_hw``).

        Per frame, so the sampler can shrink each batch as it arrives (bounded memory) and a
        second call at the same size changes nothing.
        """
        height, width = frames.shape[1:3]
        h, w = size or self.target_hw(height, width, num_frames if num_frames is not None else len(frames))
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        if (h, w) == (height, width):
            return x
        y = F.interpolate(x.float(), size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        return y.round().clamp(0, 255).to(torch.uint8)  # the processor resizes uint8 frames

    def __call__(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 RGB ``(T, H, W, 3)`` -> (``pixel_values_videos`` (N, C*tp*p*p), ``video_grid_thw`` (1, 3))."""
        t = frames.shape[0]
        x = self.resize(frames).float()
        h, w = x.shape[2:]
        x = x * self.rescale_factor
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        x = (x - mean) / std
        tp, p, m = self.temporal_patch_size, self.patch_size, self.merge_size
        if pad := -t % tp:  # an odd count: the last frame repeated, as the processor does
            x = torch.cat([x, x[-1:].expand(pad, -1, -1, -1)])
        gt, gh, gw = x.shape[0] // tp, h // p, w // p
        x = x.view(gt, tp, 3, gh // m, m, p, gw // m, m, p)
        x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
        return x.reshape(gt * gh * gw, 3 * tp * p * p), torch.tensor([[gt, gh, gw]])
