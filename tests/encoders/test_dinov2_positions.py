"""DINOv2 position embeddings at 378 px on weights trained at 518: transformers 4.42 (which LongVU
pins) interpolated the 37x37 grid with ``scale_factor = (27 + 0.1) / 37``; today's transformers
passes ``size=(27, 27)``. The reference of each is written here; the released spec uses the first."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import torch.nn.functional as F

from longvid.encoders.vision import DINOV2_GIANT_378, VisionEncoder
from longvid.types import FrameBatch


def ref_positions(pos: torch.Tensor, px: int, patch: int, how: str) -> torch.Tensor:
    n = pos.shape[1] - 1
    side = int(math.sqrt(n))
    g = px // patch
    grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2).float()
    if how == "scale_factor":  # transformers 4.42: h = w = g + 0.1, scale h / sqrt(n)
        out = F.interpolate(grid, scale_factor=(float((g + 0.1) / math.sqrt(n)),) * 2, mode="bicubic",
                            align_corners=False)
    else:
        out = F.interpolate(grid, size=(g, g), mode="bicubic", align_corners=False)
    return torch.cat([pos[:, :1], out.permute(0, 2, 3, 1).reshape(1, g * g, -1)], 1)


def tiny_dino_518():
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    m = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, mlp_ratio=2,
                                 image_size=518, patch_size=14))
    # smooth position embeddings, as trained ones are (a random grid exaggerates the difference)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 37), torch.linspace(0, 1, 37), indexing="ij")
    f = torch.arange(1, 33).float()
    smooth = torch.sin(3 * f * xx[..., None] + 2 * f * yy[..., None]).reshape(1, 37 * 37, 32)
    with torch.no_grad():
        m.embeddings.position_embeddings[:, 1:] = smooth
    return m


def test_released_spec_interpolates_as_transformers_4_42():
    assert DINOV2_GIANT_378.pos_interpolation == "scale_factor"
    m = tiny_dino_518()
    pos = m.embeddings.position_embeddings.detach().clone()
    today = m.embeddings.interpolate_pos_encoding(torch.zeros(1, 730, 32), 378, 378).detach()
    assert torch.allclose(today, ref_positions(pos, 378, 14, "size"), atol=1e-6)
    VisionEncoder(m, DINOV2_GIANT_378)
    old = m.embeddings.interpolate_pos_encoding(torch.zeros(1, 730, 32), 378, 378).detach()
    assert torch.allclose(old, ref_positions(pos, 378, 14, "scale_factor"), atol=1e-6)
    rel = float((old - today)[:, 1:].norm() / today[:, 1:].norm())
    assert 0.001 < rel < 0.5  # they differ, by a few percent on a smooth grid


def test_size_option_keeps_the_installed_transformers():
    frames = np.random.default_rng(0).integers(0, 256, (2, 60, 80, 3), dtype=np.uint8)
    batch = FrameBatch(frames, np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([0, 1]))
    a = VisionEncoder(tiny_dino_518(), replace(DINOV2_GIANT_378, pos_interpolation="size")).encode(batch).features
    b = VisionEncoder(tiny_dino_518(), DINOV2_GIANT_378).encode(batch).features
    assert a.shape == b.shape == (2, 576, 32) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="pos_interpolation"):
        replace(DINOV2_GIANT_378, pos_interpolation="nearest")
