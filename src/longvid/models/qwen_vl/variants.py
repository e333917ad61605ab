"""The Qwen-VL generations this package runs, and the few ways they differ.

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
    default_checkpoint: str
    timed_positions: bool  # temporal positions spaced by seconds (2.5) or by group index (2)


VARIANTS: dict[str, QwenVLVariant] = {v.family: v for v in (
    QwenVLVariant("qwen2_vl", "Qwen2-VL", "Qwen2VLForConditionalGeneration", "Qwen/Qwen2-VL-7B-Instruct",
                  timed_positions=False),
    QwenVLVariant("qwen2_5_vl", "Qwen2.5-VL", "Qwen2_5_VLForConditionalGeneration", "Qwen/Qwen2.5-VL-7B-Instruct",
                  timed_positions=True),
)}


def variant_for(model_type: str | None, *, where: str = "config.json") -> QwenVLVariant:
    try:
        return VARIANTS[str(model_type)]
    except KeyError:
        raise ModelLoadError(f"{where}: model_type {model_type!r} is not a Qwen-VL model this package runs; "
                             f"expected one of {sorted(VARIANTS)}") from None
