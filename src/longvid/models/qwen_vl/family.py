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
- The loader protocol's hooks (``checkpoint``, ``build_connector``, ``build_model``) raise a
  ``ModelLoadError`` naming the native entry point instead of half-working; ``create_engine``
  is the engine factory of each family.
- ``memory_profile`` is declared from the config alone, for a stated planning frame
  (``PLANNING_FRAME_HW``): the frame size is the processor's choice per video, not in
  ``config.json``. Qwen3-VL holds its deepstack copies of every video token too, counted in
  ``held_width``. The tower encodes every sampled frame in one call (``encoder_all_frames``),
  and the planner counts transformers' whole model class on the meta device (``native_classes``).
"""

from __future__ import annotations

from dataclasses import dataclass

from longvid.errors import ModelLoadError
from longvid.models.family import MemoryProfile, ModelFamily, register_family
from longvid.models.qwen_vl.variants import VARIANTS, QwenVLVariant, variant_for


# The frame size memory is planned for (the processor picks each video's size within its pixel
# bounds; 448x448 is inside the released bounds of all three generations).
PLANNING_FRAME_HW = (448, 448)


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
    hidden_size: int = 0  # the LLM's width (that of each video token)
    patch_size: int = 14
    deepstack_layers: int = 0  # Qwen3-VL: LLM layers fed a copy of each video token

    @classmethod
    def from_dict(cls, raw: dict, *, where: str = "config.json") -> QwenVLConfig:
        v = variant_for(raw.get("model_type"), where=where)
        text, vision = raw.get("text_config") or raw, raw.get("vision_config") or {}
        try:
            tps = float(vision.get("tokens_per_second", 2)) if v.timed_positions else None
            return cls(raw["model_type"], int(text.get("max_position_embeddings", 128_000)),
                       int(vision.get("temporal_patch_size", 2)), int(vision.get("spatial_merge_size", 2)),
                       tps, int(raw.get("video_token_id", text.get("video_token_id"))),
                       int(text.get("hidden_size", 0)), int(vision.get("patch_size", 14)),
                       len(vision.get("deepstack_visual_indexes") or ()) if v.deepstack else 0)
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

    def memory_profile(self, config: QwenVLConfig) -> MemoryProfile:
        """At ``PLANNING_FRAME_HW``: a frame's share of its group's merged tokens, each held at
        the LLM's width (plus Qwen3-VL's deepstack copies); the tower sees a frame's share of its
        group's patches; with no compressor every frame adds its tokens to the sequence."""
        p, m, tp = config.patch_size, config.spatial_merge_size, config.temporal_patch_size
        h, w = (-(-side // (p * m)) * m for side in PLANNING_FRAME_HW)  # patches, whole merge windows
        per_frame = h * w // (m * m) / tp
        return MemoryProfile(context_length=config.context_length, held_tokens_per_frame=max(1, round(per_frame)),
                             held_width=config.hidden_size * (1 + config.deepstack_layers), sequence_grows=True,
                             encoder_tokens=h * w / tp, encoder_all_frames=True)

    def planning_grid(self, config: QwenVLConfig) -> tuple[int, int]:
        """The merged grid of one temporal group at ``PLANNING_FRAME_HW``."""
        p, m = config.patch_size, config.spatial_merge_size
        return tuple(-(-side // (p * m)) for side in PLANNING_FRAME_HW)

    def planned_tokens(self, config: QwenVLConfig, frames: int, compressor=None, budget: int | None = None,
                       grid: tuple[int, int] | None = None) -> int:
        """The video tokens the LLM sees for ``frames`` sampled frames with merged ``grid`` per
        group (None: the planning size's): every group's grid without a compressor, else the
        compressor's own count over the groups (an odd count's last group is a whole group)."""
        groups = -(-frames // config.temporal_patch_size)
        grid = grid or self.planning_grid(config)
        if compressor is None or compressor == "none":
            return groups * grid[0] * grid[1]
        from longvid.compress import create_compressor

        comp = create_compressor(compressor) if isinstance(compressor, str) else compressor
        return int(comp.token_count(num_frames=groups, grid=grid, budget=int(budget)).tokens)

    def native_classes(self, config) -> tuple[str, str]:
        """The planner counts transformers' whole model (tower, merger, LLM) on the meta device."""
        return self.variant.config_class, self.variant.model_class

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
