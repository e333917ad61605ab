"""The ``llava_onevision`` family: claims LLaVA-OneVision checkpoints (transformers' layout) for longvid's registry.

Design decisions:
- LLaVA-OneVision is transformers-native (``LlavaOnevisionForConditionalGeneration``: SigLIP
  tower, projector, pooling, newline and Qwen2 LLM in one model, loaded correctly by
  transformers), so, as for Qwen-VL, the family reads the config (typed) and hands loading to
  :class:`~longvid.models.llava_onevision.model.OnevisionModel`; the shared loader's hooks
  (``checkpoint``, ``build_connector``, ``build_model``) raise a ``ModelLoadError`` naming the
  native entry point.
- ``memory_profile`` follows from the config alone: the pooled grid per frame (ceil of half the
  tower's grid), held at the LLM's width; the tower sees its full grid, for every sampled frame
  in one call (``encoder_all_frames``); the planner counts transformers' whole model class on
  the meta device (``native_classes``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from longvid.errors import ModelLoadError
from longvid.models.family import MemoryProfile, ModelFamily, register_family

NATIVE = ("llava_onevision is loaded by transformers' own LlavaOnevisionForConditionalGeneration, not by the "
          "shared loader: use longvid.models.llava_onevision.engine.load_onevision_engine(model)")


@dataclass(frozen=True)
class OnevisionConfig:
    """The keys of a LLaVA-OneVision ``config.json`` that sampling, layout and memory depend on."""

    model_type: str
    context_length: int  # text_config.max_position_embeddings
    image_size: int  # the tower's input side
    patch_size: int
    hidden_size: int  # the LLM's width
    video_token_id: int

    @property
    def tower_grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def pooled_side(self) -> int:
        return math.ceil(self.tower_grid / 2)

    @classmethod
    def from_dict(cls, raw: dict, *, where: str = "config.json") -> OnevisionConfig:
        if raw.get("model_type") != "llava_onevision":
            raise ModelLoadError(f"{where}: model_type {raw.get('model_type')!r} is not a LLaVA-OneVision model; "
                                 "expected 'llava_onevision' (the transformers layout, llava-hf/*-hf)")
        text, vision = raw.get("text_config") or {}, raw.get("vision_config") or {}
        try:
            return cls("llava_onevision", int(text.get("max_position_embeddings", 32768)),
                       int(vision.get("image_size", 384)), int(vision.get("patch_size", 14)),
                       int(text.get("hidden_size", 3584)),
                       int(raw.get("video_token_index", raw.get("video_token_id", 151647))))
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"{where}: a LLaVA-OneVision key is malformed ({exc})") from exc


@register_family("llava_onevision")
class OnevisionFamily(ModelFamily):
    model_types = ("llava_onevision",)
    default_checkpoint = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
    config_class = OnevisionConfig

    def checkpoint(self, config):
        raise ModelLoadError(NATIVE)

    def build_connector(self, config, encoder_dims):
        raise ModelLoadError(NATIVE)

    def build_model(self, parts):
        raise ModelLoadError(NATIVE)

    def memory_profile(self, config: OnevisionConfig) -> MemoryProfile:
        return MemoryProfile(context_length=config.context_length, held_tokens_per_frame=config.pooled_side ** 2,
                             held_width=config.hidden_size, sequence_grows=True,
                             encoder_tokens=float(config.tower_grid ** 2), encoder_all_frames=True)

    def planned_tokens(self, config: OnevisionConfig, frames: int, compressor=None, budget: int | None = None) -> int:
        """The video tokens the LLM sees for ``frames`` frames: every pooled grid without a
        compressor, else the compressor's own count; plus the one newline."""
        grid = (config.pooled_side, config.pooled_side)
        if compressor is None or compressor == "none":
            return frames * grid[0] * grid[1] + 1
        from longvid.compress import create_compressor

        comp = create_compressor(compressor) if isinstance(compressor, str) else compressor
        return int(comp.token_count(num_frames=frames, grid=grid, budget=int(budget)).tokens) + 1

    def native_classes(self, config) -> tuple[str, str]:
        """The planner counts transformers' whole model (SigLIP, projector, newline, LLM) on the meta device."""
        return "LlavaOnevisionConfig", "LlavaOnevisionForConditionalGeneration"

    @staticmethod
    def create_engine(model: str = default_checkpoint, **options):
        """The engine of this family (see :func:`~longvid.models.llava_onevision.engine.load_onevision_engine`)."""
        from longvid.models.llava_onevision.engine import load_onevision_engine

        return load_onevision_engine(model, **options)
