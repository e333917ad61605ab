"""Video-XL's configuration, read from its released ``config.json`` (``model_type`` ``llava_qwen``).

Design decisions:
- Video-XL is LongVA's architecture (CLIP-L/336 second-to-last layer, ``mlp2x_gelu`` projector,
  2x2 average pool: 144 tokens a frame) with Qwen2 extended by beacon tokens, so the vision keys
  are parsed by :class:`~longvid.models.longva.config.LongVAConfig` (one parser, not two) and this
  record adds the ``beacon_*`` keys as the checkpoint spells them.
- Only what the released inference uses is accepted: ``beacon_pos="interleave"``,
  ``beacon_attn="full-coverage"``, ``beacon_sink_size=0``, ``beacon_parallel_window=1``,
  ``beacon_window == beacon_stride``, accumulated beacons. Anything else (training-time variants)
  is a ``ModelLoadError`` naming the key, never half-supported.
- The ratio: the released configs list several (``beacon_ratio``), mixed by ``beacon_ratio_mix``.
  At inference a single ratio is used for a whole video: the caller's (``ratio=`` of the engine),
  else the only one listed, else the ``adapt-N`` rule (the smallest listed ratio whose reach
  ``(positions - window) * r + window`` covers the sequence plus N tokens). Random mixes are
  training schemes: with them a ratio must be given.
- Ratio 1 (or the original's 0) means no compression: a window's raw key/values are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from longvid.errors import ModelLoadError
from longvid.models.longva.config import LongVAConfig

BeaconParam = Literal["q", "k", "v", "o", "mlp"]
BEACON_PARAMS: tuple[BeaconParam, ...] = get_args(BeaconParam)
RATIOS = (2, 4, 8, 16)  # the ratios the released model was trained with (plus 1: no compression)
DEFAULT_WINDOW = 1440  # raw tokens per window in the release: 10 frames of 144 tokens
TOKENS_PER_FRAME = 144  # the released constant (12x12 pooled CLIP grid)


@dataclass(frozen=True)
class VideoXLConfig:
    vision: LongVAConfig  # tower, projector, pool, context: LongVA's keys
    vocab_size: int
    layers: int  # num_hidden_layers: one set of beacon projections each
    heads: int  # num_attention_heads
    kv_heads: int  # num_key_value_heads
    head_dim: int
    intermediate_size: int
    window: int = DEFAULT_WINDOW  # beacon_window (= beacon_stride): raw tokens per window
    ratios: tuple[int, ...] = (2, 4, 8)  # beacon_ratio
    ratio_mix: str = "adapt-1024"  # beacon_ratio_mix
    beacon_param: tuple[BeaconParam, ...] = ("q", "k", "v")  # which projections beacons have their own of
    attend_prev: bool = True  # beacon_attend_prev (full-coverage attention: beacons see all before them)
    embed_init: str = "eos"  # beacon_embed_init (only matters when the checkpoint lacks the embedding)

    # what VideoLLM and the families share
    @property
    def hidden_size(self) -> int:
        return self.vision.hidden_size

    @property
    def context_length(self) -> int:
        return self.vision.context_length

    @property
    def reserve_tokens(self) -> int:
        return self.vision.reserve_tokens

    @property
    def llm(self):
        return self.vision.llm

    @property
    def tokens_per_frame(self) -> int:
        return self.vision.tokens_per_frame

    def pick_ratio(self, ratio: int | None, sequence_tokens: int) -> int:
        """The one ratio a video is compressed with (see the module notes)."""
        if ratio is not None:
            return self.check_ratio(ratio)
        if len(self.ratios) == 1:
            return self.check_ratio(self.ratios[0])
        if self.ratio_mix.startswith("adapt-"):
            need = sequence_tokens + int(self.ratio_mix.split("-", 1)[1])
            reach = {r: (self.context_length - self.window) * r + self.window if r > 0 else self.context_length
                     for r in self.ratios}
            ok = [r for r in self.ratios if reach[r] >= need]
            return self.check_ratio(min(ok, key=lambda r: reach[r]) if ok else max(self.ratios))
        raise ModelLoadError(f"beacon_ratio_mix {self.ratio_mix!r} mixes ratios {list(self.ratios)} at random "
                             "(a training scheme): pass ratio=R (one of them) to compress a video")

    def check_ratio(self, ratio: int) -> int:
        r = 1 if int(ratio) == 0 else int(ratio)  # 0: the original's spelling of "no compression"
        if r < 1 or self.window % r:
            raise ModelLoadError(f"beacon ratio {ratio} must be >= 1 and divide the window of {self.window} "
                                 f"tokens; trained ratios: {list(RATIOS)}")
        return r

    @classmethod
    def from_dict(cls, raw: dict, *, where: str = "config.json") -> VideoXLConfig:
        def bad(msg: str) -> ModelLoadError:
            return ModelLoadError(f"{where}: {msg}")

        if "beacon_window" not in raw:
            raise bad("no beacon_window: this is not a Video-XL checkpoint (a plain LLaVA/LongVA one?)")
        vision = LongVAConfig.from_dict(raw, where=where)
        window, stride = int(raw["beacon_window"]), int(raw.get("beacon_stride", raw["beacon_window"]))
        if window != stride:
            raise bad(f"beacon_window {window} != beacon_stride {stride}: only equal ones (interleaved beacons) are supported")
        fixed = {"beacon_pos": "interleave", "beacon_attn": "full-coverage", "beacon_sink_size": 0,
                 "beacon_parallel_window": 1, "beacon_accum": True}
        for key, want in fixed.items():
            if key in raw and raw[key] != want:
                raise bad(f"{key}={raw[key]!r} is not supported (Video-XL inference uses {want!r})")
        ratios = raw.get("beacon_ratio", [2, 4, 8])
        ratios = tuple(int(r) for r in (ratios if isinstance(ratios, (list, tuple)) else [ratios]))
        params = tuple(raw.get("beacon_param", ("q", "k", "v")))
        unknown = [p for p in params if p not in BEACON_PARAMS]
        if unknown:
            raise bad(f"beacon_param {unknown} unknown; known: {list(BEACON_PARAMS)}")
        if not ratios:
            raise bad("beacon_ratio is empty")
        heads = int(raw["num_attention_heads"])
        out = cls(vision=vision, vocab_size=int(raw["vocab_size"]), layers=int(raw["num_hidden_layers"]),
                  heads=heads, kv_heads=int(raw.get("num_key_value_heads") or heads),
                  head_dim=int(raw.get("head_dim") or int(raw["hidden_size"]) // heads),
                  intermediate_size=int(raw["intermediate_size"]), window=window, ratios=ratios,
                  ratio_mix=str(raw.get("beacon_ratio_mix", cls.ratio_mix)), beacon_param=params,
                  attend_prev=bool(raw.get("beacon_attend_prev", True)),
                  embed_init=str(raw.get("beacon_embed_init", cls.embed_init)))
        if window < 1:
            raise bad(f"beacon_window must be >= 1, got {window}")
        return out
