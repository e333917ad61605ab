"""The ``qwen2_5_vl`` family: claims Qwen2.5-VL checkpoints for longvid's family registry.

Design decisions:
- Qwen2.5-VL is transformers-native: one ``Qwen2_5_VLForConditionalGeneration`` holds the vision
  tower, the merger and the LLM, with its own processor. Splitting it into longvid's
  tower/connector/LLM parts (the shared loader's protocol, built for LongVU and LongVA) would
  re-implement what transformers already loads correctly, so this family reads the config
  (validated, typed) and hands loading to :class:`~longvid.models.qwen_vl.model.QwenVLModel`.
- The loader protocol's hooks (``checkpoint``, ``build_connector``, ``memory_profile``,
  ``build_model``) raise a ``ModelLoadError`` naming the native entry point instead of
  half-working; ``create_engine`` is the engine factory for this family.
"""

from __future__ import annotations

from dataclasses import dataclass

from longvid.errors import ModelLoadError
from longvid.models.family import ModelFamily, register_family

NATIVE = ("qwen2_5_vl is loaded by transformers' own Qwen2_5_VLForConditionalGeneration, not by the shared "
          "loader: use longvid.models.qwen_vl.engine.load_qwen_vl_engine(model)")


@dataclass(frozen=True)
class QwenVLConfig:
    """The keys of a Qwen2.5-VL ``config.json`` that longvid's sampling and positions depend on."""

    model_type: str
    context_length: int  # text_config.max_position_embeddings
    temporal_patch_size: int  # frames per temporal group
    spatial_merge_size: int  # the merger's window side
    tokens_per_second: float  # temporal rotary positions per second of video
    video_token_id: int

    @classmethod
    def from_dict(cls, raw: dict, *, where: str = "config.json") -> QwenVLConfig:
        if raw.get("model_type") not in QwenVLFamily.model_types:
            raise ModelLoadError(f"{where}: model_type {raw.get('model_type')!r} is not a Qwen2.5-VL model; "
                                 f"expected one of {list(QwenVLFamily.model_types)}")
        text, vision = raw.get("text_config") or raw, raw.get("vision_config") or {}
        try:
            return cls(raw["model_type"], int(text.get("max_position_embeddings", 128_000)),
                       int(vision.get("temporal_patch_size", 2)), int(vision.get("spatial_merge_size", 2)),
                       float(vision.get("tokens_per_second", 2)),
                       int(raw.get("video_token_id", text.get("video_token_id"))))
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"{where}: a Qwen2.5-VL key is missing or malformed ({exc})") from exc


@register_family("qwen2_5_vl")
class QwenVLFamily(ModelFamily):
    model_types = ("qwen2_5_vl",)
    default_checkpoint = "Qwen/Qwen2.5-VL-7B-Instruct"
    config_class = QwenVLConfig

    def checkpoint(self, config):
        raise ModelLoadError(NATIVE)

    def build_connector(self, config, encoder_dims):
        raise ModelLoadError(NATIVE)

    def memory_profile(self, config):
        raise ModelLoadError(NATIVE)

    def build_model(self, parts):
        raise ModelLoadError(NATIVE)

    @staticmethod
    def create_engine(model: str = default_checkpoint, **options):
        """The engine of this family (see :func:`~longvid.models.qwen_vl.engine.load_qwen_vl_engine`)."""
        from longvid.models.qwen_vl.engine import load_qwen_vl_engine

        return load_qwen_vl_engine(model, **options)
