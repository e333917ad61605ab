"""The Qwen-VL generations this package runs (Qwen2-VL, Qwen2.5-VL, Qwen3-VL), and the few ways they differ.

Design decisions:
- Qwen2-VL and Qwen2.5-VL share the processor (``smart_resize``, patch 14, temporal patch 2,
  2x2 merger, CLIP normalisation, 2 fps / 768 frames), the prompt (ChatML with vision markers)
  and the LLM with 3D rotary positions (t, h, w); the whole path in model.py is shared. What
  differs is kept here, one record per generation, so nothing in the path is copied:
  - the transformers class that holds tower, merger and LLM;
  - the temporal rotary position of a temporal group: Qwen2.5-VL spaces groups by the seconds
    they cover (``group * tokens_per_second * temporal_patch_size / fps``, transformers'
    ``second_per_grid_ts``); Qwen2-VL uses the group's index, whatever the frame rate;
  - the vision tower (Qwen2.5-VL has window attention with a few full-attention blocks,
    Qwen2-VL full attention in every block): inside transformers' class, nothing to do here.
  - Qwen3-VL (its own processor and model code in transformers) differs more, still as fields:
    its prompt writes each temporal group as its own segment, ``<t seconds>`` text then
    ``<|vision_start|>`` pads ``<|vision_end|>`` (``timestamped_prompt``); its tower adds
    "deepstack" features of a few inner blocks to the LLM's hidden states at the video tokens
    of its first layers (``deepstack``); its processor's pixel bounds hold for the whole video,
    not one frame (``video_pixel_budget``); patch 16 and mean/std 0.5 are read from the
    checkpoint's processor files like every other processor setting. Its rotary index (each
    group a segment whose t, h and w all start at the running position, the text timestamps
    between) is transformers' ``get_rope_index``, called the same way.
- The longvid family name is the checkpoint's ``model_type``, so a ``config.json`` picks its
  variant with no other key.
"""

from __future__ import annotations

from dataclasses import dataclass

from longvid.errors import ModelLoadError


@dataclass(frozen=True)
class QwenVLVariant:
    family: str  # longvid family name, equal to the checkpoint's model_type
    label: str  # the model's name, for messages
    model_class: str  # transformers class: vision tower, merger and LLM in one
    config_class: str  # its transformers config class
    default_checkpoint: str
    timed_positions: bool  # temporal positions spaced by seconds (2.5) or by group index (2)
    timestamped_prompt: bool = False  # each group its own "<t seconds><|vision_start|>pads<|vision_end|>" (3)
    deepstack: bool = False  # inner-block features added to the first LLM layers at video tokens (3)
    video_pixel_budget: bool = False  # the processor's pixel bounds are for all frames together (3)


VARIANTS: dict[str, QwenVLVariant] = {v.family: v for v in (
    QwenVLVariant("qwen2_vl", "Qwen2-VL", "Qwen2VLForConditionalGeneration", "Qwen2VLConfig", "Qwen/Qwen2-VL-7B-Instruct",
                  timed_positions=False),
    QwenVLVariant("qwen2_5_vl", "Qwen2.5-VL", "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLConfig", "Qwen/Qwen2.5-VL-7B-Instruct",
                  timed_positions=True),
    QwenVLVariant("qwen3_vl", "Qwen3-VL", "Qwen3VLForConditionalGeneration", "Qwen3VLConfig", "Qwen/Qwen3-VL-8B-Instruct",
                  timed_positions=False, timestamped_prompt=True, deepstack=True, video_pixel_budget=True),
)}


def variant_for(model_type: str | None, *, where: str = "config.json") -> QwenVLVariant:
    try:
        return VARIANTS[str(model_type)]
    except KeyError:
        raise ModelLoadError(f"{where}: model_type {model_type!r} is not a Qwen-VL model this package runs; "
                             f"expected one of {sorted(VARIANTS)}") from None
