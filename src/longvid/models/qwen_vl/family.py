"""The ``qwen2_vl``, ``qwen2_5_vl`` and ``qwen3_vl`` families: claim Qwen-VL checkpoints for longvid's registry.

Design decisions:
- Qwen-VL is transformers-native: one ``Qwen2VLForConditionalGeneration`` /
  ``Qwen2_5_VLForConditionalGeneration`` holds the vision tower, the merger and the LLM, with its
  own processor. Splitting it into longvid's tower/connector/LLM parts (the shared loader's
  protocol, built for LongVU and LongVA) would re-implement what transformers already loads
  correctly, so a family reads the config (validated, typed) and hands loading to
  :class:`~longvid.models.qwen_vl.model.QwenVLModel`.
- One family class per generation, both from one base parametrised by its
  :class:`~longvid.models.qwen_vl.variants.QwenVLVariant`: nothing is written twice.
- The loader protocol's hooks (``checkpoint``, ``build_connector``, ``memory_profile``,
  ``build_model``) raise a ``ModelLoadError`` naming the native entry point instead of
  half-working; ``create_engine`` is the engine factory of each family.
"""

from __future__ import annotations

from dataclasses import dataclass

from longvid.errors import ModelLoadError
from longvid.models.family import ModelFamily, register_family
from longvid.models.qwen_vl.variants import VARIANTS, QwenVLVariant, variant_for


def _native(v: QwenVLVariant) -> str:
    return (f"{v.family} is loaded by transformers' own {v.model_class}, not by the shared loader: "
            "use longvid.models.qwen_vl.engine.load_qwen_vl_engine(model)")


@dataclass(frozen=True)
class QwenVLConfig:
    """The keys of a Qwen-VL ``config.json`` that longvid's sampling and positions depend on."""

    model_type: str
    context_length: int  # text_config.max_position_embeddings
    temporal_patch_size: int  # frames per temporal group
    spatial_merge_size: int  # the merger's window side
    tokens_per_second: float | None  # temporal rotary positions per second (Qwen2.5-VL); None: by group index
    video_token_id: int

    @classmethod
    def from_dict(cls, raw: dict, *, where: str = "config.json") -> QwenVLConfig:
        v = variant_for(raw.get("model_type"), where=where)
        text, vision = raw.get("text_config") or raw, raw.get("vision_config") or {}
        try:
            tps = float(vision.get("tokens_per_second", 2)) if v.timed_positions else None
            return cls(raw["model_type"], int(text.get("max_position_embeddings", 128_000)),
                       int(vision.get("temporal_patch_size", 2)), int(vision.get("spatial_merge_size", 2)),
                       tps, int(raw.get("video_token_id", text.get("video_token_id"))))
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"{where}: a {v.label} key is missing or malformed ({exc})") from exc


class QwenVLFamilyBase(ModelFamily):
    """What both Qwen-VL families do; a subclass names its variant."""

    variant: QwenVLVariant
    config_class = QwenVLConfig

    def parse_config(self, raw: dict, *, where: str = "config.json") -> QwenVLConfig:
        if raw.get("model_type") not in self.model_types:
            raise ModelLoadError(f"{where}: model_type {raw.get('model_type')!r} is not a {self.variant.label} model; "
                                 f"expected one of {list(self.model_types)}")
        return QwenVLConfig.from_dict(raw, where=where)

    def checkpoint(self, config):
        raise ModelLoadError(_native(self.variant))

    def build_connector(self, config, encoder_dims):
        raise ModelLoadError(_native(self.variant))

    def memory_profile(self, config):
        raise ModelLoadError(_native(self.variant))

    def build_model(self, parts):
        raise ModelLoadError(_native(self.variant))


def _create_engine(default: str):
    def create_engine(model: str = default, **options):
        """The engine of this family (see :func:`~longvid.models.qwen_vl.engine.load_qwen_vl_engine`)."""
        from longvid.models.qwen_vl.engine import load_qwen_vl_engine

        return load_qwen_vl_engine(model, **options)

    return staticmethod(create_engine)


@register_family("qwen2_5_vl")
class QwenVLFamily(QwenVLFamilyBase):
    variant = VARIANTS["qwen2_5_vl"]
    model_types = ("qwen2_5_vl",)
    default_checkpoint = variant.default_checkpoint
    create_engine = _create_engine(default_checkpoint)


@register_family("qwen2_vl")
class Qwen2VLFamily(QwenVLFamilyBase):
    variant = VARIANTS["qwen2_vl"]
    model_types = ("qwen2_vl",)
    default_checkpoint = variant.default_checkpoint
    create_engine = _create_engine(default_checkpoint)


@register_family("qwen3_vl")
class Qwen3VLFamily(QwenVLFamilyBase):
    variant = VARIANTS["qwen3_vl"]
    model_types = ("qwen3_vl",)
    default_checkpoint = variant.default_checkpoint
    create_engine = _create_engine(default_checkpoint)
