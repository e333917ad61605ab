"""LongVA's configuration, read from a released LLaVA-NeXT ``config.json`` (``llava_qwen``).

Design decisions:
- Keys as the checkpoints spell them: ``mm_vision_tower``, ``mm_vision_select_layer`` (-2),
  ``mm_vision_select_feature`` ("patch"), ``mm_projector_type`` ("mlp2x_gelu"), ``mm_hidden_size``,
  ``mm_spatial_pool_mode`` / ``mm_spatial_pool_stride`` (average, 2), ``mm_patch_merge_type``
  ("unires"), ``image_grid_pinpoints``, ``tokenizer_model_max_length``.
- The projector depth comes from an explicit table of projector types, not a regex over strings.
- Patch-merge types other than ``flat``/``unires`` (the anyres "unpad" family with newlines) are
  rejected with a clear error rather than half-supported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Literal, get_args

from longvid.compress.budget import RESERVE_TOKENS
from longvid.encoders.vision import CLIP_L14_336
from longvid.errors import ModelLoadError
from longvid.models.family import LLMSpec, TowerSpec, model_type_of

LLM_FAMILIES = {"llava_qwen": LLMSpec("Qwen2Config", "Qwen2ForCausalLM")}  # model_type -> LLM classes
TOWER_PREFIX = "model.vision_tower.vision_tower."  # where LLaVA-NeXT checkpoints keep the CLIP weights
PROJECTOR_DEPTHS = {"linear": 1, "mlp2x_gelu": 2, "mlp3x_gelu": 3}  # linears in the projector
MergeType = Literal["flat", "unires"]
PoolMode = Literal["average", "max"]
MERGE_TYPES: tuple[MergeType, ...] = get_args(MergeType)
POOL_MODES: tuple[PoolMode, ...] = get_args(PoolMode)
CROP = 336  # UniRes crop side (the CLIP input)
MAX_GRID = 7  # UniRes grids of up to 7x7 crops when the config lists no pinpoints


@dataclass(frozen=True)
class LongVAConfig:
    model_type: str  # selects the LLM classes (LLM_FAMILIES)
    hidden_size: int  # LLM width
    vision_tower: str  # mm_vision_tower
    mm_hidden_size: int = 1024  # CLIP-L width
    select_layer: int = -2  # second-to-last CLIP layer
    projector_depth: int = 2  # mlp2x_gelu
    pool_mode: PoolMode = "average"  # 2x2 average pool after the projector
    pool_stride: int = 2
    merge_type: MergeType = "unires"
    image_size: int = 336  # CLIP-L/14-336
    patch_size: int = 14
    context_length: int = 224_000  # max_position_embeddings of the long-context Qwen2
    reserve_tokens: int = RESERVE_TOKENS  # tokens kept free after the prompt (16, as LongVU)
    # tokenizer_model_max_length: the released code cuts the embedded sequence (text and video) to
    # this length, which can cut the question; longvid budgets to context_length instead and only
    # warns when the released code would have cut (None: the config has no such key)
    truncation_length: int | None = None
    grid_pinpoints: tuple[tuple[int, int], ...] = tuple(
        (CROP * i, CROP * j) for i in range(1, MAX_GRID + 1) for j in range(1, MAX_GRID + 1))

    @property
    def llm(self) -> LLMSpec:
        return LLM_FAMILIES[self.model_type]

    def tower(self) -> TowerSpec:
        """CLIP, read at ``select_layer`` at ``image_size``; the hub id is the config's own name."""
        spec = replace(CLIP_L14_336, select_layer=self.select_layer, image_size=self.image_size)
        return TowerSpec(self.vision_tower, "clip", self.vision_tower, spec, TOWER_PREFIX)

    @property
    def patch_grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def pooled_grid(self) -> int:
        return -(-self.patch_grid // self.pool_stride)

    @property
    def tokens_per_frame(self) -> int:
        return self.pooled_grid ** 2

    @classmethod
    def from_dict(cls, cfg: dict, *, where: str = "config.json") -> LongVAConfig:
        def bad(msg: str) -> ModelLoadError:
            return ModelLoadError(f"{where}: {msg}")

        mt = model_type_of(cfg, LLM_FAMILIES, "LongVA", where=where)
        tower = cfg.get("mm_vision_tower")
        if not tower:
            raise bad("no mm_vision_tower: this is not a LLaVA-style video model")
        ptype = cfg.get("mm_projector_type", "linear")
        if ptype not in PROJECTOR_DEPTHS:
            raise bad(f"mm_projector_type {ptype!r} is not supported; known: {sorted(PROJECTOR_DEPTHS)}")
        if cfg.get("mm_vision_select_feature", "patch") != "patch":
            raise bad("only mm_vision_select_feature='patch' is supported")
        merge = cfg.get("mm_patch_merge_type", "flat")
        if merge not in MERGE_TYPES:
            raise bad(f"mm_patch_merge_type {merge!r} is not supported; known: {list(MERGE_TYPES)}")
        mode = cfg.get("mm_spatial_pool_mode", "average")
        if mode not in POOL_MODES:
            raise bad(f"mm_spatial_pool_mode {mode!r} is not supported; known: {list(POOL_MODES)}")
        pins = cfg.get("image_grid_pinpoints")
        if isinstance(pins, str):  # released configs sometimes store a Python-literal string
            pins = json.loads(pins.replace("(", "[").replace(")", "]"))
        # the long context is the LLM's own (RoPE theta 1e9, 224k): its position limit, not the
        # shorter sequence length the multimodal stage was trained at
        ctx = cfg.get("max_position_embeddings") or cfg.get("tokenizer_model_max_length") or cls.context_length
        out = cls(
            model_type=mt,
            hidden_size=int(cfg["hidden_size"]),
            vision_tower=str(tower),
            mm_hidden_size=int(cfg.get("mm_hidden_size", cls.mm_hidden_size)),
            select_layer=int(cfg.get("mm_vision_select_layer", cls.select_layer)),
            projector_depth=PROJECTOR_DEPTHS[ptype],
            pool_mode=mode,
            pool_stride=int(cfg.get("mm_spatial_pool_stride", cls.pool_stride)),
            merge_type=merge,
            context_length=int(ctx),
            truncation_length=(int(cfg["tokenizer_model_max_length"]) if cfg.get("tokenizer_model_max_length")
                               else None),
            **({"grid_pinpoints": tuple((int(a), int(b)) for a, b in pins)} if pins else {}),
        )
        if out.pool_stride < 1:
            raise bad(f"mm_spatial_pool_stride must be >= 1, got {out.pool_stride}")
        return out
