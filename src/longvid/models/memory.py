"""Memory planning before loading: how many frames fit on a device, or a refusal with numbers.

Design decisions:
- Everything is computed from ``config.json`` alone: parameter counts come from meta-device
  instances (no memory, no weights) of the LLM, the connector and the towers (their known
  configs). What differs between families is declared by the family
  (:class:`~longvid.models.family.MemoryProfile`); this module has no per-family branch.
- The model of memory is deliberately simple and stated: weights + KV cache of the whole sequence
  + one layer's prefill activations + encoder chunk activations + the visual tokens held per kept
  frame before compression. LongVU's sequence is bounded by its context (compression), so frames
  cost only their held tokens; LongVA's sequence grows by 144 tokens per frame (no compression).
- A streaming family (Video-XL, ``MemoryProfile.kv_tokens_per_frame``) holds no frame: each
  frame leaves ``144 / r`` KV entries (its beacons), and one window of raw tokens is in flight
  (its KV and one layer's activations), plus the text kept whole (``text_tokens``).
- Free memory is asked of the device (``torch.cuda.mem_get_info``; ``MemAvailable`` on CPU);
  a device that cannot say is not checked (logged), unless ``available_bytes`` is given.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from longvid.errors import BudgetError, require

logger = logging.getLogger(__name__)

GiB = 1024**3


@dataclass(frozen=True)
class MemoryPlan:
    device: str
    available_bytes: int | None  # free memory on the device (None: unknown)
    weights_bytes: int
    fixed_bytes: int  # KV cache and activations that do not grow with the frame count
    bytes_per_frame: int  # what each sampled frame adds
    frames_that_fit: int | None  # None when available memory is unknown

    def describe(self) -> str:
        avail = "unknown" if self.available_bytes is None else f"{self.available_bytes / GiB:.2f} GiB"
        return (f"{self.device}: {avail} free; weights {self.weights_bytes / GiB:.2f} GiB, context and "
                f"activations {self.fixed_bytes / GiB:.2f} GiB, {self.bytes_per_frame / 2**20:.2f} MiB per frame "
                f"-> {self.frames_that_fit if self.frames_that_fit is not None else '?'} frames fit")

    def check(self, frames: int | None = None) -> MemoryPlan:
        """Raise :class:`BudgetError` (with the numbers) if the model or ``frames`` do not fit."""
        if self.frames_that_fit is None:
            logger.info("memory not checked: %s", self.describe())
            return self
        if self.frames_that_fit < 1:
            raise BudgetError(f"the model does not fit: {self.describe()}. Use a smaller dtype "
                              "(bfloat16), a device with more memory, or a shorter context")
        if frames is not None and frames > self.frames_that_fit:
            raise BudgetError(f"{frames} frames do not fit: {self.describe()}. Sample fewer frames "
                              "(lower fps / num_frames) or compress harder")
        return self


def available_bytes(device: str) -> int | None:
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free)
    if dev.type == "cpu":
        try:
            for line in open("/proc/meminfo"):
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _tower_size(tower) -> tuple[int, int]:
    """(parameters, hidden size) of a known tower, from its config on the meta device; a tower
    longvid writes itself (EVA-ViT-G) states its own."""
    own = getattr(tower.spec, "tower_size", None)
    if own is not None:
        return own()
    from longvid.encoders.vision import encoder_config, model_class
    from longvid.models.checkpoint import meta_instance

    cfg = encoder_config(tower.hub_id, tower.spec.kind)
    return _params(meta_instance(model_class(tower.spec.kind), cfg)), int(cfg.hidden_size)


def plan_for_config(raw: dict, family, *, device: str = "cpu", dtype=None,
                    context_length: int | None = None, available: int | None = None,
                    encoder_chunk: int = 32) -> MemoryPlan:
    """A :class:`MemoryPlan` for a ``config.json`` dict of ``family`` (a name or a family object;
    None: the family claiming its model_type) on ``device``."""
    import torch

    from longvid.models.checkpoint import meta_instance
    from longvid.models.llm import llm_config
    from longvid.models.loader import default_dtype
    from longvid.models.registry import as_family

    fam = as_family(family, raw, "config.json")
    cfg = fam.parse_config(raw)
    spec = fam.checkpoint(cfg)
    prof = fam.memory_profile(cfg)
    dtype = dtype or default_dtype(device)
    bpe = torch.empty(0, dtype=dtype).element_size()
    towers = [_tower_size(t) for t in spec.towers]
    conn = _params(meta_instance(lambda _c: fam.build_connector(cfg, [h for _, h in towers]), None))
    text_cfg = llm_config(raw, spec.llm.config_class, **spec.llm.overrides)
    transformers = require("transformers", extra="models")
    llm = _params(meta_instance(getattr(transformers, spec.llm.model_class), text_cfg))
    weights = (llm + conn + sum(p for p, _ in towers)) * bpe
    ctx = context_length or prof.context_length
    hidden = int(text_cfg.hidden_size)
    layers = int(text_cfg.num_hidden_layers)
    heads = int(text_cfg.num_attention_heads)
    kv_heads = int(getattr(text_cfg, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text_cfg, "head_dim", None) or hidden // heads)
    inter = int(getattr(text_cfg, "intermediate_size", 4 * hidden))
    kv_per_token = 2 * layers * kv_heads * head_dim * bpe
    act_per_token = (4 * hidden + 3 * inter) * bpe  # one layer's transient prefill tensors
    enc_act = int(encoder_chunk * prof.encoder_tokens * max(h for _, h in towers) * 8 * bpe)
    held = prof.held_tokens_per_frame * prof.held_width * bpe
    if prof.kv_tokens_per_frame is not None:  # streaming: frames leave only their summaries' KV
        win = prof.window_tokens
        # one window in flight (its KV, one layer's activations) plus the text kept whole
        fixed = win * (kv_per_token + act_per_token) + prof.text_tokens * kv_per_token + enc_act
        per_frame = held + int(math.ceil(prof.kv_tokens_per_frame * kv_per_token))
    elif prof.sequence_grows:
        fixed = enc_act
        per_frame = held + prof.held_tokens_per_frame * (kv_per_token + act_per_token)
    else:
        fixed = ctx * (kv_per_token + act_per_token) + enc_act
        per_frame = held
    avail = available if available is not None else available_bytes(device)
    fit = None if avail is None else max(0, (avail - weights - fixed) // per_frame)
    return MemoryPlan(str(device), avail, int(weights), int(fixed), int(per_frame),
                      None if fit is None else int(fit))
