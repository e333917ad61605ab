"""Vision towers through transformers: SigLIP, DINOv2 and CLIP as registered frame encoders.

Design decisions:
- Every tower is a transformers vision model plus an :class:`EncoderSpec` (a frozen dataclass:
  input resolution, pad-or-crop, statistics, which hidden state, whether to drop the class
  token, the feature grid to resize to). The specs of the released towers, as LongVU and LongVA
  use them, are here; the weights come from a folder, a hub id or a checkpoint's state dict.
- Preprocessing follows the released LongVU/LongVA code (see ``longvid.encoders.preprocess``):
  ``"pad"`` pads to a square with the processor's mean colour (``int(mean * 255)``) and resizes;
  ``"crop"`` resizes the short side and centre-crops (the CLIP processor).
- ``encode`` works in chunks of ``chunk_size`` frames so memory stays bounded however many frames
  arrive; it runs on the tower's device and dtype and returns features there.
- transformers is imported lazily through ``longvid.errors.require``: without it, creating one of
  these encoders names the extra to install (``longvid[models]``).
- DINOv2 runs at 378 px on weights trained at 518, so transformers interpolates its position
  embeddings (37x37 -> 27x27, bicubic). transformers up to 4.4x (LongVU pins 4.42.4) passed a
  ``scale_factor`` of ``(27 + 0.1) / 37``, which samples the source grid at a slightly different
  step than today's ``size=(27, 27)``; the two differ by a few percent. ``EncoderSpec.pos_interpolation``
  picks one: ``"scale_factor"`` (the released towers' default: what LongVU was trained and
  evaluated with) installs :func:`scale_factor_pos_encoding` on the model; ``"size"`` keeps the
  installed transformers' own.
- Registered names: ``siglip`` (google/siglip-so400m-patch14-384, 24x24 grid), ``dinov2``
  (facebook/dinov2-giant at 378 px, 24x24 grid), ``clip`` (openai/clip-vit-large-patch14-336,
  second-to-last layer, 24x24 patches). ``create_encoder("siglip", model=DIR, spec=..., ...)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from longvid.encoders.base import batch_features, empty_features
from longvid.encoders.preprocess import (
    normalise,
    pad_to_square,
    refill_padding,
    resize_center_crop,
    resize_square,
    to_float_bchw,
)
from longvid.encoders.registry import ENCODERS
from longvid.errors import ModelLoadError, require
from longvid.types import FrameBatch, FrameFeatures

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)

Kind = Literal["siglip", "dinov2", "clip"]
PosInterpolation = Literal["scale_factor", "size"]


@dataclass(frozen=True)
class EncoderSpec:
    """How frames become patch features for one tower."""

    kind: Kind  # the transformers architecture (and registry name)
    image_size: int  # square input side in pixels
    resize: Literal["pad", "crop"]  # pad to square with the mean colour, or resize + centre-crop
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # hidden state to read: None = the model's last_hidden_state (after its final norm);
    # an int indexes output_hidden_states (-1 = last block before any final norm, -2 = one before)
    select_layer: int | None
    drop_cls: bool  # drop the class token (CLIP, DINOv2) so only patch tokens remain
    grid: int | None = None  # bilinear resize of the patch grid to grid x grid (None: keep)
    # DINOv2 position embeddings at another resolution than trained: "scale_factor" as
    # transformers 4.42 interpolated them, "size" as the installed transformers does (see above)
    pos_interpolation: PosInterpolation = "size"

    def __post_init__(self) -> None:
        if self.pos_interpolation not in ("scale_factor", "size"):
            raise ValueError(f"pos_interpolation must be 'scale_factor' or 'size', got {self.pos_interpolation!r}")
        if self.kind not in _MODEL_CLASSES:
            raise ValueError(f"kind must be one of {sorted(_MODEL_CLASSES)}, got {self.kind!r}")
        if self.image_size <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if self.resize not in ("pad", "crop"):
            raise ValueError(f"resize must be 'pad' or 'crop', got {self.resize!r}")

    @property
    def pad_rgb(self) -> tuple[int, int, int]:
        """The padding colour of ``"pad"`` preprocessing: the mean colour as the released code rounds it."""
        return tuple(int(m * 255) for m in self.mean)


_MODEL_CLASSES = {"siglip": "SiglipVisionModel", "dinov2": "Dinov2Model", "clip": "CLIPVisionModel"}
_CONFIG_CLASSES = {"siglip": "SiglipVisionConfig", "dinov2": "Dinov2Config", "clip": "CLIPVisionConfig"}

# The released towers, as LongVU and LongVA use them.
SIGLIP_SO400M_384 = EncoderSpec("siglip", 384, "pad", SIGLIP_MEAN, SIGLIP_STD, select_layer=-1,
                                drop_cls=False, grid=24)  # 27x27 patches -> 24x24
DINOV2_GIANT_378 = EncoderSpec("dinov2", 378, "pad", IMAGENET_MEAN, IMAGENET_STD, select_layer=None,
                               drop_cls=True, grid=24,  # 27x27 patches -> 24x24
                               pos_interpolation="scale_factor")  # as LongVU's transformers 4.42.4
CLIP_L14_336 = EncoderSpec("clip", 336, "crop", CLIP_MEAN, CLIP_STD, select_layer=-2, drop_cls=True)

# Architectures of the released towers, so that a checkpoint carrying a tower's weights (LongVA)
# loads without fetching the tower's own config, and so memory can be planned before loading.
KNOWN_ENCODER_CONFIGS: dict[str, tuple[Kind, dict]] = {
    "openai/clip-vit-large-patch14-336": ("clip", dict(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu")),
    "google/siglip-so400m-patch14-384": ("siglip", dict(
        hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
        image_size=384, patch_size=14)),
    "facebook/dinov2-giant": ("dinov2", dict(
        hidden_size=1536, num_hidden_layers=40, num_attention_heads=24, mlp_ratio=4,
        use_swiglu_ffn=True, image_size=518, patch_size=14)),
}


# ----------------------------------------------------------------------------- preprocessing
def preprocess(frames, spec: EncoderSpec, *, device=None, dtype=None,
               content_wh: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` frames -> normalised ``(B, 3, S, S)`` pixel values for ``spec``.

    ``content_wh``: for frames that arrive already padded to a square, the picture's (w, h), so
    the padding can be repainted with this tower's mean colour.
    """
    x = to_float_bchw(frames)
    if device is not None:
        x = x.to(device)
    if spec.resize == "pad":
        fill = tuple(float(v) for v in spec.pad_rgb)
        if content_wh is not None:
            x = refill_padding(x, content_wh, fill)
        x = resize_square(pad_to_square(x, fill), spec.image_size)
    else:
        x = resize_center_crop(x, spec.image_size)
    x = normalise(x, spec.mean, spec.std)
    return x if dtype is None else x.to(dtype)


# ----------------------------------------------------------------------------- DINOv2 positions
def scale_factor_pos_encoding(position_embeddings: torch.Tensor, height: int, width: int,
                              patch_size: int) -> torch.Tensor:
    """``(1, 1 + n*n, D)`` position embeddings for a ``height x width`` pixel input, interpolated
    the way transformers 4.42 did: bicubic in float32 with ``scale_factor = (side + 0.1) / n``
    (not the output size), so the source grid is sampled at step ``n / (side + 0.1)``."""
    import math

    import torch
    import torch.nn.functional as F

    n = position_embeddings.shape[1] - 1
    side = int(math.sqrt(n))
    gh, gw = height // patch_size, width // patch_size
    if gh * gw == n and height == width:
        return position_embeddings
    cls_pos, grid = position_embeddings[:, :1], position_embeddings[:, 1:]
    d = grid.shape[-1]
    x = grid.reshape(1, side, side, d).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, scale_factor=((gh + 0.1) / side, (gw + 0.1) / side), mode="bicubic", align_corners=False)
    x = x.to(grid.dtype).permute(0, 2, 3, 1).reshape(1, -1, d)
    return torch.cat([cls_pos, x], dim=1)


def use_scale_factor_positions(model) -> None:
    """Make a transformers ``Dinov2Model`` interpolate positions with :func:`scale_factor_pos_encoding`."""
    import types

    emb = model.embeddings
    patch = int(model.config.patch_size)

    def interpolate(self, embeddings, height, width):
        return scale_factor_pos_encoding(self.position_embeddings, height, width, patch)

    emb.interpolate_pos_encoding = types.MethodType(interpolate, emb)


# ----------------------------------------------------------------------------- the encoder
class VisionEncoder:
    """A transformers vision model plus its :class:`EncoderSpec`, as a frame encoder."""

    def __init__(self, model, spec: EncoderSpec, *, chunk_size: int = 32) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.model = model.eval()
        self.spec = spec
        if spec.kind == "dinov2" and spec.pos_interpolation == "scale_factor":
            use_scale_factor_positions(model)
        self.name: str = spec.kind
        self.chunk_size = chunk_size
        cfg = model.config
        self.feature_dim: int = int(cfg.hidden_size)
        self.patch_size: int = int(cfg.patch_size)
        side = spec.image_size // self.patch_size
        self.native_grid = (side, side)
        self.grid: tuple[int, int] = (spec.grid, spec.grid) if spec.grid else self.native_grid

    @property
    def input_size(self) -> int:
        return self.spec.image_size

    @property
    def hidden_size(self) -> int:
        return self.feature_dim

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def dtype(self):
        return next(self.model.parameters()).dtype

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        from longvid.compress.base import resize_grid

        spec = self.spec
        out = self.model(pixel_values=pixels, output_hidden_states=spec.select_layer is not None)
        feats = out.last_hidden_state if spec.select_layer is None else out.hidden_states[spec.select_layer]
        if spec.drop_cls:
            feats = feats[:, 1:]
        n_extra = feats.shape[1] - self.native_grid[0] * self.native_grid[1]
        if n_extra:  # register tokens (DINOv2 with registers) sit after the class token
            feats = feats[:, n_extra:]
        return resize_grid(feats, self.native_grid, self.grid, mode="bilinear")

    def encode(self, batch: FrameBatch, *, content_wh: tuple[int, int] | None = None) -> FrameFeatures:
        """Patch features ``(T, grid_h * grid_w, hidden)`` on the tower's device and dtype.

        ``content_wh``: the picture's (w, h) when the frames were already padded to a square with
        another colour (the padding is repainted with this tower's mean colour).
        """
        import torch

        frames = batch.frames
        if len(frames) == 0:
            return empty_features(batch, self.grid, self.feature_dim, device=self.device, dtype=self.dtype)
        out = []
        with torch.inference_mode():
            for s in range(0, len(frames), self.chunk_size):
                px = preprocess(frames[s : s + self.chunk_size], self.spec, device=self.device,
                                dtype=self.dtype, content_wh=content_wh)
                out.append(self._forward(px))
        return batch_features(batch, torch.cat(out), self.grid)


# ----------------------------------------------------------------------------- loading
def model_class(kind: Kind):
    transformers = require("transformers", extra="models")
    return getattr(transformers, _MODEL_CLASSES[kind])


def config_class(kind: Kind):
    transformers = require("transformers", extra="models")
    return getattr(transformers, _CONFIG_CLASSES[kind])


def encoder_config(source: str, kind: Kind):
    """The transformers config of a tower: from a folder's config.json, else the known table."""
    from pathlib import Path

    cls = config_class(kind)
    p = Path(source).expanduser()
    if p.is_dir():
        try:
            cfg = cls.from_pretrained(str(p))
        except Exception as exc:  # transformers raises many kinds here
            raise ModelLoadError(f"cannot read the {kind} encoder config in {p}: {exc}") from exc
        return getattr(cfg, "vision_config", cfg)  # a full SigLIP/CLIP config holds a vision part
    if source in KNOWN_ENCODER_CONFIGS:
        known_kind, kw = KNOWN_ENCODER_CONFIGS[source]
        if known_kind != kind:
            raise ModelLoadError(f"{source} is a {known_kind} encoder, not {kind}")
        return cls(**kw)
    raise ModelLoadError(f"unknown encoder {source!r}: pass a folder holding its config.json "
                         f"(known without one: {', '.join(sorted(KNOWN_ENCODER_CONFIGS))})")


def load_encoder(source: str, spec: EncoderSpec, *, dtype=None, device="cpu", chunk_size: int = 32,
                 state_dict: dict | None = None) -> VisionEncoder:
    """A :class:`VisionEncoder` from ``state_dict`` (weights shipped in a checkpoint) or a
    folder / hub id of the tower itself. Missing or misshapen weights are a ModelLoadError."""
    from longvid.models.checkpoint import resolve_model_dir

    cls = model_class(spec.kind)
    if state_dict is not None:
        kwargs = dict(config=encoder_config(source, spec.kind), state_dict=state_dict)
        target = None
    else:
        target = str(resolve_model_dir(source))
        kwargs = {}
    try:
        model, info = cls.from_pretrained(target, dtype=dtype, output_loading_info=True, **kwargs)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the {spec.kind} encoder from {source}: {exc}") from exc
    bad = sorted(info.get("missing_keys", ())) + sorted(str(k) for k in info.get("mismatched_keys", ()))
    if bad:
        raise ModelLoadError(f"the {spec.kind} encoder weights from {source} are incomplete: missing or "
                             f"misshapen {', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}")
    return VisionEncoder(model.to(device), spec, chunk_size=chunk_size)


# ----------------------------------------------------------------------------- registration
RELEASED: dict[Kind, tuple[str, EncoderSpec]] = {  # registry name -> (default weights, spec)
    "siglip": ("google/siglip-so400m-patch14-384", SIGLIP_SO400M_384),
    "dinov2": ("facebook/dinov2-giant", DINOV2_GIANT_378),
    "clip": ("openai/clip-vit-large-patch14-336", CLIP_L14_336),
}


def _register(kind: Kind) -> None:
    default_source, default_spec = RELEASED[kind]

    def create(*, model: str = default_source, spec: EncoderSpec = default_spec, dtype=None,
               device: str = "cpu", chunk_size: int = 32, state_dict: dict | None = None) -> VisionEncoder:
        if spec.kind != kind:
            raise ValueError(f"a {spec.kind} spec cannot build the {kind!r} encoder")
        return load_encoder(model, spec, dtype=dtype, device=device, chunk_size=chunk_size, state_dict=state_dict)

    create.__name__ = create.__qualname__ = f"create_{kind}"
    create.__doc__ = f"The {kind} tower ({default_source} by default) as a frame encoder."
    ENCODERS.register(kind)(create)


for _kind in RELEASED:
    _register(_kind)
