"""EVA-ViT-G/14 (BLIP-2's frame encoder, as LLaMA-VID uses it) in plain torch.

Design decisions:
- The architecture of the LAVIS EVA-ViT-G at 224 px: a 14x14 patch convolution, a class token,
  absolute position embeddings, 39 pre-norm blocks (the 40-block EVA-CLIP tower with its last
  block dropped), width 1408, 16 heads of 88, MLP 6144 (``int(1408 * 4.3637)``), exact GELU,
  LayerNorm eps 1e-6, a bias on q and v but none on k. No final norm: the output is the last
  block's tokens, class token first (1 + 256 tokens at 224 px).
- Parameter names are the released ones (``cls_token``, ``pos_embed``, ``patch_embed.proj``,
  ``blocks.N.{norm1,attn.qkv,attn.q_bias,attn.v_bias,attn.proj,norm2,mlp.fc1,mlp.fc2}``), so both
  ``eva_vit_g.pth`` and a checkpoint that carries the tower load by name. Keys of blocks beyond
  the depth (the dropped 40th block) are ignored, as the original does; any other unknown, any
  missing or misshapen key is a :class:`~longvid.errors.ModelLoadError` naming it. A position
  table for another grid is resized bicubically (class token kept), as the original does.
- Preprocessing is CLIP's image processor at 224 (short side bicubic to 224, centre crop, CLIP
  mean/std), in torch on the encoder's device (:mod:`longvid.encoders.preprocess`); no torchvision.
- ``encode`` gives the 16x16 patch grid (the :class:`FrameEncoder` contract); ``encode_tokens``
  gives every token with the class token first, which LLaMA-VID's Q-Former reads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from longvid.encoders.base import batch_features, check_frames
from longvid.encoders.preprocess import normalise, resize_center_crop, to_float_bchw
from longvid.encoders.registry import register_encoder
from longvid.errors import ModelLoadError
from longvid.types import FrameBatch, FrameFeatures

logger = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # LLaMA-VID's clip-patch14-224 processor
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
WEIGHTS_FILE = "eva_vit_g.pth"  # the LAVIS file name the released configs point at


@dataclass(frozen=True)
class EvaConfig:
    image_size: int = 224
    patch_size: int = 14
    width: int = 1408
    depth: int = 39  # EVA-CLIP's 40 blocks less the last, as BLIP-2 uses it
    heads: int = 16  # 1408 // 88
    mlp_ratio: float = 4.3637  # MLP width int(1408 * 4.3637) = 6144
    eps: float = 1e-6

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def mlp_width(self) -> int:
        return int(self.width * self.mlp_ratio)


class Attention(nn.Module):
    def __init__(self, cfg: EvaConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.width, 3 * cfg.width, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(cfg.width))
        self.v_bias = nn.Parameter(torch.zeros(cfg.width))
        self.proj = nn.Linear(cfg.width, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])  # k has no bias
        q, k, v = F.linear(x, self.qkv.weight, bias).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        # same as softmax(q k^T * head_dim^-0.5) v
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, cfg: EvaConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg.width, cfg.mlp_width)
        self.fc2 = nn.Linear(cfg.mlp_width, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: EvaConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.width, eps=cfg.eps)
        self.mlp = Mlp(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: EvaConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class EvaViT(nn.Module):
    """The tower itself: ``(B, 3, S, S)`` normalised pixels -> ``(B, 1 + g*g, width)``."""

    def __init__(self, cfg: EvaConfig = EvaConfig()) -> None:
        super().__init__()
        self.config = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid ** 2 + 1, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixels)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return x


_BLOCK = re.compile(r"^blocks\.(\d+)\.")


def resize_pos_embed(pos: torch.Tensor, grid: int) -> torch.Tensor:
    """A ``(1, 1 + g0*g0, C)`` table on a ``grid x grid`` patch grid: bicubic, class token kept."""
    g0 = round((pos.shape[1] - 1) ** 0.5)
    if g0 == grid:
        return pos
    logger.info("EVA position table resized from %dx%d to %dx%d", g0, g0, grid, grid)
    cls, rest = pos[:, :1], pos[:, 1:].float()
    rest = rest.reshape(1, g0, g0, -1).permute(0, 3, 1, 2)
    rest = F.interpolate(rest, size=(grid, grid), mode="bicubic", align_corners=False)
    return torch.cat([cls, rest.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(cls.dtype)], dim=1)


def load_eva_state(model: EvaViT, state: Mapping[str, torch.Tensor], *, where: str) -> None:
    """Load released EVA weights by name; blocks past the depth are ignored, anything else wrong is named."""
    depth = model.config.depth
    state = {k: v for k, v in state.items()
             if not ((m := _BLOCK.match(k)) and int(m.group(1)) >= depth)}
    if "pos_embed" in state:
        state["pos_embed"] = resize_pos_embed(state["pos_embed"], model.config.grid)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    bad = sorted(f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
                 for k in set(own) & set(state) if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or extra or bad:
        parts = [f"{label}: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
                 for label, names in (("missing", missing), ("unexpected", extra), ("misshapen", bad)) if names]
        raise ModelLoadError(f"EVA-ViT-G weights in {where} do not match the tower: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def read_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """``eva_vit_g.pth`` (a plain state dict; a ``{"model": ...}`` wrapper is unwrapped)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / WEIGHTS_FILE
    if not p.is_file():
        raise ModelLoadError(f"no EVA-ViT-G weights at {p}: download {WEIGHTS_FILE} (BLIP-2's, from LAVIS) there")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    state = torch.load(str(p), map_location="cpu", weights_only=True)
    return state.get("model", state) if isinstance(state, dict) else state


class EvaEncoder:
    """EVA-ViT-G as a frame encoder: frames in, patch features (and the class token) out."""

    name = "eva_vit_g"

    def __init__(self, model: EvaViT, *, chunk_size: int = 32) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.model = model.eval()
        self.config = model.config
        self.chunk_size = chunk_size
        self.feature_dim = self.config.width
        self.input_size = self.config.image_size
        self.grid = (self.config.grid, self.config.grid)
        self.calls = 0  # forward passes run (a cache in front of the encoder is checked by it)

    @property
    def device(self) -> torch.device:
        return self.model.cls_token.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.cls_token.dtype

    def preprocess(self, frames) -> torch.Tensor:
        x = to_float_bchw(torch.as_tensor(frames).to(self.device))
        x = resize_center_crop(x, self.config.image_size)
        return normalise(x, CLIP_MEAN, CLIP_STD).to(self.dtype)

    @torch.inference_mode()
    def encode_tokens(self, batch: FrameBatch) -> torch.Tensor:
        """``(T, 1 + g*g, width)``: the class token, then the patches row by row."""
        check_frames(batch.frames)
        out = []
        for s in range(0, len(batch.frames), self.chunk_size):
            self.calls += 1
            out.append(self.model(self.preprocess(batch.frames[s:s + self.chunk_size])))
        if not out:
            return torch.empty(0, 1 + self.grid[0] * self.grid[1], self.feature_dim, device=self.device, dtype=self.dtype)
        return torch.cat(out)

    def encode(self, batch: FrameBatch) -> FrameFeatures:
        return batch_features(batch, self.encode_tokens(batch)[:, 1:], self.grid)


@register_encoder("eva_vit_g")
def create_eva_vit_g(*, model: str | Path | None = None, state_dict: Mapping[str, torch.Tensor] | None = None,
                     config: EvaConfig = EvaConfig(), dtype=None, device="cpu", chunk_size: int = 32,
                     **_ignored) -> EvaEncoder:
    """EVA-ViT-G from ``state_dict`` (a checkpoint's tower weights) or ``model`` (``eva_vit_g.pth``
    or its folder). ``spec``: a family's tower spec; its ``eva`` config, when it has one, replaces ``config``."""
    config = getattr(_ignored.get("spec"), "eva", config)
    if state_dict is None and model is None:
        raise ModelLoadError(f"EVA-ViT-G needs its weights: pass model=PATH/{WEIGHTS_FILE} or state_dict=")
    net = EvaViT(config)
    where = "the checkpoint" if state_dict is not None else str(model)
    load_eva_state(net, state_dict if state_dict is not None else read_weights_file(model), where=where)
    net.to(device=device, dtype=dtype or torch.float32)
    return EvaEncoder(net, chunk_size=chunk_size)
