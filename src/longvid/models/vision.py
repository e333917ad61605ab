"""Vision encoders (SigLIP, DINOv2, CLIP) through transformers, with the seeds' preprocessing in torch.

Design decisions:
- Preprocessing is plain torch on uint8 frames ``(B, H, W, 3)`` (no torchvision, no PIL round trip):
  ``"pad"`` pads to a square with the processor's mean colour (``int(mean * 255)``, as the seeds do)
  and resizes; ``"crop"`` resizes the short side and centre-crops (the CLIP processor). Bicubic with
  antialiasing stands in for PIL's bicubic resize; values are clamped to [0, 255] before scaling.
- Every encoder is described by an :class:`EncoderSpec` (a frozen dataclass: resolution, statistics,
  which hidden state, whether to drop the class token, the feature grid to resize to). The released
  encoders have specs here; the transformers model itself comes from a folder or hub id.
- :meth:`VisionEncoder.encode` works in chunks of ``chunk_size`` frames so memory stays bounded
  however many frames arrive; it runs on the encoder's device and dtype and returns features there.
- :func:`content_mask` says which cells of a padded-square feature grid hold picture rather than
  padding, from the frame's (width, height). The seeds read a (height, width) pair as (width, height)
  (landscape frames end up cropped); here the order is explicit and right.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import torch

logger = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class EncoderSpec:
    """How frames become patch features for one encoder."""

    kind: Literal["siglip", "dinov2", "clip"]
    image_size: int  # square input side in pixels
    resize: Literal["pad", "crop"]  # pad to square with the mean colour, or resize + centre-crop
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # hidden state to read: None = the model's last_hidden_state (after its final norm);
    # an int indexes output_hidden_states (-1 = last block before any final norm, -2 = one before)
    select_layer: int | None
    drop_cls: bool  # drop the class token (CLIP, DINOv2) so only patch tokens remain
    grid: int | None = None  # bilinear resize of the patch grid to grid x grid (None: keep)

    def __post_init__(self) -> None:
        if self.image_size <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if self.resize not in ("pad", "crop"):
            raise ValueError(f"resize must be 'pad' or 'crop', got {self.resize!r}")


# The released encoders, as LongVU and LongVA use them.
SIGLIP_SO400M_384 = EncoderSpec("siglip", 384, "pad", SIGLIP_MEAN, SIGLIP_STD, select_layer=-1,
                                drop_cls=False, grid=24)  # 27x27 patches -> 24x24
DINOV2_GIANT_378 = EncoderSpec("dinov2", 378, "pad", IMAGENET_MEAN, IMAGENET_STD, select_layer=None,
                               drop_cls=True, grid=24)  # 27x27 patches -> 24x24
CLIP_L14_336 = EncoderSpec("clip", 336, "crop", CLIP_MEAN, CLIP_STD, select_layer=-2, drop_cls=True)


# ----------------------------------------------------------------------------- preprocessing
def _to_float_bchw(frames) -> torch.Tensor:
    import numpy as np
    import torch

    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (B, H, W, 3) RGB, got shape {tuple(frames.shape)}")
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
    top, left = (side - h) // 2, (side - w) // 2  # the paste offsets PIL's expand2square uses
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


def refill_padding(x: torch.Tensor, content_wh: tuple[int, int], fill: tuple[float, float, float]) -> torch.Tensor:
    """Repaint the padding of already padded-to-square frames with this encoder's ``fill``.

    Frames sampled once for several encoders are padded with one colour; each encoder's seeds'
    preprocessing pads with its own mean colour, restored here from the content's (w, h).
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


def preprocess(frames, spec: EncoderSpec, *, device=None, dtype=None,
               content_wh: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` frames -> normalised ``(B, 3, S, S)`` pixel values for ``spec``.

    ``content_wh``: for frames that arrive already padded to a square, the picture's (w, h), so
    the padding can be repainted with this encoder's mean colour.
    """
    import torch
    import torch.nn.functional as F

    x = _to_float_bchw(frames)
    if device is not None:
        x = x.to(device)
    if spec.resize == "pad":
        fill = tuple(float(int(m * 255)) for m in spec.mean)
        if content_wh is not None:
            x = refill_padding(x, content_wh, fill)
        x = pad_to_square(x, fill)
        if x.shape[-1] != spec.image_size:
            x = F.interpolate(x, size=(spec.image_size, spec.image_size), mode="bicubic",
                              align_corners=False, antialias=True)
    else:
        x = resize_center_crop(x, spec.image_size)
    x = x.clamp_(0, 255) / 255.0
    mean = torch.tensor(spec.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=x.device).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x if dtype is None else x.to(dtype)


def content_mask(grid: tuple[int, int], image_wh: tuple[int, int]) -> torch.Tensor:
    """Boolean ``grid`` mask: True where a padded-to-square frame of size ``image_wh`` has picture.

    Rows (landscape) or columns (portrait) lying wholly in the padding are False, computed as the
    seeds do: ``new = int(short * side / long)``, ``padding = (side - new) // 2`` cells each end.
    """
    import torch

    gh, gw = grid
    w, h = image_wh
    mask = torch.ones(gh, gw, dtype=torch.bool)
    if w > h:
        pad = (gh - int(h * gw / w)) // 2
        if pad > 0:
            mask[:pad] = False
            mask[gh - pad :] = False
    elif h > w:
        pad = (gw - int(w * gh / h)) // 2
        if pad > 0:
            mask[:, :pad] = False
            mask[:, gw - pad :] = False
    return mask


def resize_grid(features: torch.Tensor, src: tuple[int, int], dst: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(B, h*w, D)`` tokens on grid ``src`` to grid ``dst`` (float32 math)."""
    import torch.nn.functional as F

    if tuple(src) == tuple(dst):
        return features
    b, n, d = features.shape
    assert n == src[0] * src[1], (n, src)
    x = features.view(b, src[0], src[1], d).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=dst, mode="bilinear", align_corners=False)
    return x.permute(0, 2, 3, 1).reshape(b, dst[0] * dst[1], d).to(features.dtype)


# ----------------------------------------------------------------------------- encoders
_MODEL_CLASSES = {"siglip": "SiglipVisionModel", "dinov2": "Dinov2Model", "clip": "CLIPVisionModel"}
_CONFIG_CLASSES = {"siglip": "SiglipVisionConfig", "dinov2": "Dinov2Config", "clip": "CLIPVisionConfig"}


def model_class(kind: str):
    import transformers

    return getattr(transformers, _MODEL_CLASSES[kind])


def config_class(kind: str):
    import transformers

    return getattr(transformers, _CONFIG_CLASSES[kind])


class VisionEncoder:
    """A transformers vision model plus its :class:`EncoderSpec`; encodes frames in chunks."""

    def __init__(self, model, spec: EncoderSpec, *, chunk_size: int = 32) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.model = model.eval()
        self.spec = spec
        self.chunk_size = chunk_size
        cfg = model.config
        self.hidden_size: int = int(cfg.hidden_size)
        self.patch_size: int = int(cfg.patch_size)
        side = spec.image_size // self.patch_size
        self.native_grid = (side, side)
        self.grid: tuple[int, int] = (spec.grid, spec.grid) if spec.grid else self.native_grid

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def dtype(self):
        return next(self.model.parameters()).dtype

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        out = self.model(pixel_values=pixels, output_hidden_states=spec.select_layer is not None)
        feats = out.last_hidden_state if spec.select_layer is None else out.hidden_states[spec.select_layer]
        if spec.drop_cls:
            feats = feats[:, 1:]
        n_extra = feats.shape[1] - self.native_grid[0] * self.native_grid[1]
        if n_extra:  # register tokens (DINOv2 with registers) sit after the class token
            feats = feats[:, n_extra:]
        return resize_grid(feats, self.native_grid, self.grid)

    def encode(self, frames, *, content_wh: tuple[int, int] | None = None) -> torch.Tensor:
        """uint8 ``(B, H, W, 3)`` -> ``(B, grid_h * grid_w, hidden)`` on the encoder's device/dtype."""
        import torch

        b = int(frames.shape[0])
        out = []
        with torch.inference_mode():
            for s in range(0, b, self.chunk_size):
                px = preprocess(frames[s : s + self.chunk_size], self.spec, device=self.device,
                                dtype=self.dtype, content_wh=content_wh)
                out.append(self._forward(px))
        if not out:
            return torch.empty(0, self.grid[0] * self.grid[1], self.hidden_size, device=self.device,
                               dtype=self.dtype)
        return torch.cat(out)


# ----------------------------------------------------------------------------- loading
# Architectures of the released encoders, so that a checkpoint carrying an encoder's weights (LongVA)
# loads without fetching the encoder's own config, and so memory can be planned before loading.
KNOWN_ENCODER_CONFIGS: dict[str, tuple[str, dict]] = {
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


def encoder_config(source: str, kind: str):
    """The transformers config of an encoder: from a folder's config.json, else the known table."""
    from pathlib import Path

    from longvid.errors import ModelLoadError

    cls = config_class(kind)
    p = Path(source).expanduser()
    if p.is_dir():
        try:
            cfg = cls.from_pretrained(str(p))
        except Exception as exc:
            raise ModelLoadError(f"cannot read the {kind} encoder config in {p}: {exc}") from exc
        return getattr(cfg, "vision_config", cfg)  # a full SigLIP/CLIP config holds a vision part
    if source in KNOWN_ENCODER_CONFIGS:
        k, kw = KNOWN_ENCODER_CONFIGS[source]
        assert k == kind, (source, k, kind)
        return cls(**kw)
    raise ModelLoadError(f"unknown encoder {source!r}: pass a folder holding its config.json "
                         f"(known without one: {', '.join(sorted(KNOWN_ENCODER_CONFIGS))})")


def load_encoder(source: str, spec: EncoderSpec, *, dtype, device, chunk_size: int = 32,
                 state_dict: dict | None = None) -> VisionEncoder:
    """A :class:`VisionEncoder` from ``state_dict`` (weights shipped in a checkpoint) or a
    folder / hub id of the encoder itself. Missing or misshapen weights are a ModelLoadError."""
    from longvid.errors import ModelLoadError
    from longvid.models.checkpoint import resolve_model_dir

    cls = model_class(spec.kind)
    if state_dict is not None:
        cfg = encoder_config(source, spec.kind)
        kwargs = dict(config=cfg, state_dict=state_dict)
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
