"""The model-family protocol: what a video-LLM family declares so that one loader serves them all.

Design decisions:
- A family (LongVU, LongVA, ...) is a small stateless object registered in ``FAMILIES`` under its
  name. It claims the ``config.json`` ``model_type`` values it reads (``model_types``); the
  loader picks the family from that claim, never from a model's name.
- The family *declares* its checkpoint (:class:`CheckpointSpec`: the LLM classes, its vision
  towers and where a checkpoint stores them, the connector's weight prefix) and builds its
  connector; :func:`longvid.models.loader.build_model` does the rest for every family, as
  timm's ``build_model_with_cfg`` does for every timm model: config validation, the weight-name
  report, tokenizer, LLM and tower weights.
- The family also declares what the memory planner needs (:class:`MemoryProfile`), so the
  planner has no per-family branch either.
- This module is light: no torch, no transformers at import time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from longvid.registry import Registry
from longvid.errors import ModelLoadError

if TYPE_CHECKING:
    from longvid.encoders.vision import EncoderSpec
    from longvid.models.video_llm import LoadedParts, VideoLLM


@dataclass(frozen=True)
class LLMSpec:
    """The language model of a checkpoint, as transformers class names."""

    config_class: str  # "Qwen2Config"
    model_class: str  # "Qwen2ForCausalLM"
    overrides: Mapping[str, Any] = field(default_factory=dict)  # config.json keys replaced for the LLM


@dataclass(frozen=True)
class TowerSpec:
    """One vision tower: how config.json names it, what encodes with it, where its weights are."""

    name: str  # as config.json names it; the key of ``vision_towers={name: DIR}``
    encoder: str  # the registered frame encoder that runs it ("siglip", "dinov2", "clip")
    hub_id: str  # where its own weights live on the hub (also its subfolder name next to the model)
    spec: EncoderSpec  # preprocessing and feature selection, as this family uses the tower
    checkpoint_prefix: str  # where a checkpoint that carries the tower stores its weights


@dataclass(frozen=True)
class CheckpointSpec:
    """What a family's checkpoint holds, beyond the LLM's own weights."""

    llm: LLMSpec
    towers: tuple[TowerSpec, ...]  # in the order the family's model uses them
    connector_prefix: str  # the connector's weights are ``prefix + its state_dict names``
    # keys under these prefixes are the towers' business (checked when the towers load)
    tower_prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.tower_prefixes:
            object.__setattr__(self, "tower_prefixes", tuple(t.checkpoint_prefix for t in self.towers))


@dataclass(frozen=True)
class MemoryProfile:
    """What the memory planner needs to know about a family's model, from its config alone."""

    context_length: int  # the model's own context (tokens)
    held_tokens_per_frame: int  # visual tokens held per frame before they reach the LLM
    held_width: int  # channels of each held token (summed over the copies held)
    sequence_grows: bool  # True: every frame adds its tokens to the LLM sequence (no compression)
    encoder_tokens: float  # tokens per frame inside the largest tower (activation estimate)
    # streaming prefill (Video-XL): each frame leaves this many KV-cache entries (None: not streaming,
    # the frame's held tokens and, with sequence_grows, all its tokens stay)
    kv_tokens_per_frame: float | None = None
    window_tokens: int = 0  # raw tokens in flight at once (one window: its KV and activations)
    text_tokens: int = 1024  # prompt and answer entries kept beside the frames (streaming plans)
    # a transformers-native model's tower encodes every sampled frame in one call (Qwen-VL,
    # LLaVA-OneVision): its activations grow with the frames instead of one chunk's
    encoder_all_frames: bool = False
    weights_params: int | None = None  # parameters, when the family states them (None: counted on meta)


class ModelFamily(ABC):
    """A video-LLM family. Subclass, fill the class attributes, register with ``register_family``."""

    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]  # config.json model_type values this family reads
    default_checkpoint: ClassVar[str]  # the hub id its engine loads when none is given
    config_class: ClassVar[type]  # its typed config, with ``from_dict(raw, where=...)``

    def parse_config(self, raw: dict, *, where: str = "config.json") -> Any:
        """The family's typed, validated config; a bad or unsupported key is a ModelLoadError."""
        return self.config_class.from_dict(raw, where=where)

    @abstractmethod
    def checkpoint(self, config) -> CheckpointSpec:
        """The checkpoint layout for this config."""

    @abstractmethod
    def build_connector(self, config, encoder_dims: list[int]):
        """The trained parts between towers and LLM (an ``nn.Module``), given the towers' widths."""

    @abstractmethod
    def memory_profile(self, config) -> MemoryProfile:
        """What the memory planner needs (see :mod:`longvid.models.memory`)."""

    def native_classes(self, config) -> tuple[str, str] | None:
        """A transformers-native family's (config class, model class) names, e.g.
        ``("Qwen2_5_VLConfig", "Qwen2_5_VLForConditionalGeneration")``: the memory planner counts
        that model's parameters on the meta device instead of the checkpoint's parts. None (the
        default): the family is assembled from parts (:meth:`checkpoint`)."""
        return None

    @abstractmethod
    def build_model(self, parts: LoadedParts) -> VideoLLM:
        """The family's model object around the loaded parts."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, model_types={list(self.model_types)})"


FAMILIES: Registry[ModelFamily] = Registry("family", plural="families", builtins={
    "longva": "longvid.models.longva.family",
    "longvu": "longvid.models.longvu.family",
    "qwen2_vl": "longvid.models.qwen_vl.family",
    "qwen2_5_vl": "longvid.models.qwen_vl.family",
    "qwen3_vl": "longvid.models.qwen_vl.family",
    "llava_onevision": "longvid.models.llava_onevision.family",
    "llama_vid": "longvid.models.llama_vid.family",
    "videoxl": "longvid.models.videoxl.family",
})


def register_family(name: str):
    """Class decorator: ``@register_family("longvu")`` makes ``create_family("longvu")`` work."""

    def deco(cls):
        cls.name = name
        return FAMILIES.register(name)(cls)

    return deco


def model_type_of(raw: dict, table: Mapping[str, Any], family: str, *, where: str) -> str:
    """``raw["model_type"]``, which must be a key of ``table`` (the family's LLM classes)."""
    mt = raw.get("model_type")
    if mt not in table:
        raise ModelLoadError(f"{where}: model_type {mt!r} is not a {family} model; expected one of {sorted(table)}")
    return mt
