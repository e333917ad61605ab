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
- A transformers-native family (Qwen-VL, LLaVA-OneVision: ``ModelFamily.native_classes``) is
  one transformers model, not parts: its parameters are counted on a meta-device instance of
  that model class built from ``config.json`` (tower, merger/projector and LLM together), the
  LLM's shapes are read from its text config, and the tower's width from its vision config.
  Its tower encodes every sampled frame in one call (``MemoryProfile.encoder_all_frames``), so
  the tower's activations are a per-frame cost, not one chunk's.
- A sequence-growing plan also keeps its two per-frame parts apart (``tokens_per_frame``,
  ``bytes_per_token``), so an engine whose compressor bounds the LLM sequence can ask how many
  frames fit for its own token count (:meth:`MemoryPlan.frames_for`), and refuse with those numbers.
- Free memory is asked of the device (``torch.cuda.mem_get_info``; ``MemAvailable`` on CPU);
  a device that cannot say is not checked (logged), unless ``available_bytes`` is given.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
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
    # sequence-growing plans: the LLM tokens each frame adds inside bytes_per_frame, and what each
    # token of the LLM sequence costs (KV cache + one layer's activations); 0 for the others
    tokens_per_frame: int = 0
    bytes_per_token: int = 0

    def describe(self, fit: int | None = None) -> str:
        fit = self.frames_that_fit if fit is None else fit
        avail = "unknown" if self.available_bytes is None else f"{self.available_bytes / GiB:.2f} GiB"
        return (f"{self.device}: {avail} free; weights {self.weights_bytes / GiB:.2f} GiB, context and "
                f"activations {self.fixed_bytes / GiB:.2f} GiB, {self.bytes_per_frame / 2**20:.2f} MiB per frame "
                f"-> {fit if fit is not None else '?'} frames fit")

    def frames_for(self, tokens_for: Callable[[int], int]) -> int | None:
        """The most frames that fit when ``n`` frames put ``tokens_for(n)`` tokens in the LLM
        sequence (a compressor's count; monotone in ``n``); None when free memory is unknown."""
        if self.available_bytes is None:
            return None
        held = self.bytes_per_frame - self.tokens_per_frame * self.bytes_per_token  # frames' own cost
        room = self.available_bytes - self.weights_bytes - self.fixed_bytes

        def fits(n: int) -> bool:
            return n * held + tokens_for(n) * self.bytes_per_token <= room

        if not fits(1):
            return 0
        lo, hi = 1, 2
        while fits(hi) and hi < 10**7:
            lo, hi = hi, hi * 2
        if fits(hi):
            return hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return lo

    def check(self, frames: int | None = None, tokens_for: Callable[[int], int] | None = None) -> MemoryPlan:
        """Raise :class:`BudgetError` (with the numbers) if the model or ``frames`` do not fit;
        ``tokens_for(n)``: the LLM tokens of ``n`` frames when a compressor bounds them."""
        if self.frames_that_fit is None:
            logger.info("memory not checked: %s", self.describe())
            return self
        if self.frames_that_fit < 1 and tokens_for is None:
            raise BudgetError(f"the model does not fit: {self.describe()}. Use a smaller dtype "
                              "(bfloat16), a device with more memory, or a shorter context")
        fit = self.frames_that_fit if tokens_for is None else self.frames_for(tokens_for)
        if frames is not None and frames > fit:
            raise BudgetError(f"{frames} frames do not fit: {self.describe(fit)}. Sample fewer frames "
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
    prof = fam.memory_profile(cfg)
    dtype = dtype or default_dtype(device)
    bpe = torch.empty(0, dtype=dtype).element_size()
    native = fam.native_classes(cfg)
    if native is not None:  # one transformers model: count it whole, on the meta device
        params, text_cfg, tower_hidden = native_size(raw, *native)
        towers = [(0, tower_hidden)]
        weights = (prof.weights_params if prof.weights_params is not None else params) * bpe
    else:
        spec = fam.checkpoint(cfg)
        towers = [_tower_size(t) for t in spec.towers]
        conn = _params(meta_instance(lambda _c: fam.build_connector(cfg, [h for _, h in towers]), None))
        text_cfg = llm_config(raw, spec.llm.config_class, **spec.llm.overrides)
        transformers = require("transformers", extra="models")
        llm = _params(meta_instance(getattr(transformers, spec.llm.model_class), text_cfg))
        counted = llm + conn + sum(p for p, _ in towers)
        weights = (prof.weights_params if prof.weights_params is not None else counted) * bpe
    ctx = context_length or prof.context_length
    hidden = int(text_cfg.hidden_size)
    layers = int(text_cfg.num_hidden_layers)
    heads = int(text_cfg.num_attention_heads)
    kv_heads = int(getattr(text_cfg, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text_cfg, "head_dim", None) or hidden // heads)
    inter = int(getattr(text_cfg, "intermediate_size", 4 * hidden))
    kv_per_token = 2 * layers * kv_heads * head_dim * bpe
    act_per_token = (4 * hidden + 3 * inter) * bpe  # one layer's transient prefill tensors
    enc_frame = prof.encoder_tokens * max(h for _, h in towers) * 8 * bpe  # one frame's tower activations
    enc_act = 0 if prof.encoder_all_frames else int(encoder_chunk * enc_frame)
    held = prof.held_tokens_per_frame * prof.held_width * bpe
    if prof.encoder_all_frames:  # every frame is in the tower at once
        held += int(math.ceil(enc_frame))
    tokens_per_frame, per_token = 0, 0
    if prof.kv_tokens_per_frame is not None:  # streaming: frames leave only their summaries' KV
        win = prof.window_tokens
        # one window in flight (its KV, one layer's activations) plus the text kept whole
        fixed = win * (kv_per_token + act_per_token) + prof.text_tokens * kv_per_token + enc_act
        per_frame = held + int(math.ceil(prof.kv_tokens_per_frame * kv_per_token))
    elif prof.sequence_grows:
        fixed = enc_act
        per_frame = held + prof.held_tokens_per_frame * (kv_per_token + act_per_token)
        tokens_per_frame, per_token = prof.held_tokens_per_frame, kv_per_token + act_per_token
    else:
        fixed = ctx * (kv_per_token + act_per_token) + enc_act
        per_frame = held
    avail = available if available is not None else available_bytes(device)
    fit = None if avail is None else max(0, (avail - weights - fixed) // per_frame)
    return MemoryPlan(str(device), avail, int(weights), int(fixed), int(per_frame),
                      None if fit is None else int(fit), tokens_per_frame, per_token)


def native_size(raw: dict, config_class: str, model_class: str) -> tuple[int, object, int]:
    """(parameters, text config, tower width) of a transformers-native model, from its
    ``config.json`` dict: the whole model class built on the meta device (shapes only)."""
    from longvid.models.checkpoint import meta_instance

    transformers = require("transformers", extra="models")
    hf = getattr(transformers, config_class).from_dict(dict(raw))
    model = meta_instance(getattr(transformers, model_class), hf)
    vision = hf.vision_config
    # Qwen2-VL's vision hidden_size is its merger's output (the LLM's width); embed_dim is the tower's
    width = getattr(vision, "embed_dim", None) or vision.hidden_size
    return _params(model), hf.get_text_config(), int(width)
