"""Tiny random Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoints in the released on-disk layout, built offline.

Design decisions:
- The model is transformers' own class (``Qwen2_5_VLForConditionalGeneration`` or
  ``Qwen2VLForConditionalGeneration``) with a tiny config (LLM hidden 32, 2 layers; a 2-block
  vision tower, patch 14, 2x2 merger, temporal patch 2; Qwen2.5-VL's with one windowed and one
  full-attention block and ``tokens_per_second``, Qwen2-VL's full attention and no timing),
  seeded, saved with ``save_pretrained``; the processor (image + video processors, tokenizer,
  chat template) is saved with ``save_pretrained`` too, so the folder loads like a released one.
- The tokenizer is a word-level vocabulary built here with the Qwen-VL special tokens
  (``<|vision_start|>``, ``<|video_pad|>``, ...): nothing is downloaded. Answers are random words.
- Qwen3-VL's: patch 16, mean/std 0.5, a 2-block tower whose both blocks feed deepstack
  features to the 2 LLM layers, interleaved 3D rotary sections, and the processor's pixel
  bounds over the whole video; its vocabulary adds the digits and words of its timestamps
  (``<1.5 seconds>``), so the prompt has no unknown tokens.
- Frames are kept small by the video processor's pixel bounds (``min_pixels``/``max_pixels``),
  so a 112x84 test video gives an 8x6 patch grid, 4x3 merged tokens per pair of frames.
"""

from __future__ import annotations

import json
from pathlib import Path

from longvid.errors import require

# Real-size configs: the released config.json values that decide the model's size (for the memory
# planner and benchmarks on the meta device or with random weights; no weights are implied).
QWEN2_5_VL_7B = {
    "model_type": "qwen2_5_vl", "video_token_id": 151656,
    "text_config": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                    "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
                    "max_position_embeddings": 128000,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}},
    "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                      "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                      "tokens_per_second": 2, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]},
}
QWEN3_VL_8B = {
    "model_type": "qwen3_vl", "video_token_id": 151656,
    "text_config": {"hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
                    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
                    "max_position_embeddings": 262144,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 5e6, "mrope_section": [24, 20, 20],
                                        "mrope_interleaved": True}},
    "vision_config": {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
                      "out_hidden_size": 4096, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                      "num_position_embeddings": 2304, "deepstack_visual_indexes": [8, 16, 24]},
}
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>")
WORDS = ("the", "a", "video", "what", "is", "in", "this", "shows", "red", "green", "blue", "cat", "dog",
         "person", "speaker", "says", "on", "screen", "when", "does", "happen", "system", "user", "assistant",
         "you", "are", "helpful", "describe", "it", "and", "of", "to", "?", ".", ",", ":")

# The released Qwen2.5-VL chat template's structure (ChatML with vision markers), written here.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'video' or 'video' in c %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'image' or 'image' in c %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in c %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # the released processors' normalisation (OpenAI CLIP)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PIXELS = (28 * 28 * 4, 28 * 28 * 16)  # min, max pixels of a frame: tiny grids for tests


TIME_WORDS = ("<", ">", "seconds") + tuple(str(d) for d in range(10))  # Qwen3-VL's "<1.5 seconds>"


def make_tokenizer(extra: tuple[str, ...] = ()):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(("[UNK]",) + SPECIALS + WORDS + tuple(extra))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(list(SPECIALS))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")


def make_qwen2_5_vl(folder: str | Path, *, seed: int = 0, tokens_per_second: int = 4) -> Path:
    """Write a seeded tiny Qwen2.5-VL checkpoint and processor into ``folder``; return it."""
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 32,
              "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
              "tokens_per_second": tokens_per_second, "window_size": 56, "fullatt_block_indexes": [1]}
    return _make(folder, "Qwen2_5_VL", vision, seed)


def make_qwen2_vl(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a seeded tiny Qwen2-VL checkpoint and processor into ``folder``; return it."""
    # Qwen2-VL's tower: embed_dim wide, mlp_ratio, its merger out to hidden_size (the LLM's width)
    vision = {"depth": 2, "embed_dim": 32, "hidden_size": 32, "mlp_ratio": 2, "num_heads": 2, "patch_size": 14,
              "spatial_merge_size": 2, "temporal_patch_size": 2}
    return _make(folder, "Qwen2VL", vision, seed)


def make_qwen3_vl(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a seeded tiny Qwen3-VL checkpoint and processor into ``folder``; return it."""
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 32,
              "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": 64,
              "deepstack_visual_indexes": [0, 1]}
    text = {"head_dim": 8, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                               "mrope_section": [2, 1, 1], "mrope_interleaved": True}}
    pre = {"patch_size": 16, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
           "size": {"shortest_edge": VIDEO_PIXELS[0], "longest_edge": VIDEO_PIXELS[1]}}
    return _make(folder, "Qwen3VL", vision, seed, text=text, pre=pre, extra_words=TIME_WORDS,
                 processor="Qwen3VLProcessor", video_processor="Qwen3VLVideoProcessor")


# Qwen3-VL's bounds hold for all frames together: up to 256 frames of 96x128 (3x4 merged tokens)
VIDEO_PIXELS = (32 * 32 * 4, 32 * 32 * 12 * 256)


def _make(folder: str | Path, prefix: str, vision: dict, seed: int, *, text: dict | None = None,
          pre: dict | None = None, extra_words: tuple[str, ...] = (), processor: str | None = None,
          video_processor: str = "Qwen2VLVideoProcessor") -> Path:
    require("transformers", extra="models")
    import torch
    import transformers

    config_cls = getattr(transformers, f"{prefix}Config")
    model_cls = getattr(transformers, f"{prefix}ForConditionalGeneration")
    processor = processor or ("Qwen2_5_VLProcessor" if prefix == "Qwen2_5_VL" else "Qwen2VLProcessor")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(extra_words)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    text = {**{"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "vocab_size": len(tok), "max_position_embeddings": 4096,
                "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]},
                "tie_word_embeddings": False, "bos_token_id": None, "eos_token_id": ids["<|im_end|>"],
                "pad_token_id": ids["<|endoftext|>"]}, **(text or {})}
    cfg = config_cls(vision_config=vision, text_config=text, image_token_id=ids["<|image_pad|>"],
                           video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                           vision_end_token_id=ids["<|vision_end|>"], bos_token_id=None,
                           eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                           tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = model_cls(cfg).eval()
    with torch.no_grad():  # random init is tiny; widen it so greedy answers differ between inputs
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    model.save_pretrained(str(folder))
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(folder))
    # the released processor files, keys as transformers' Qwen2-VL processors write them (written
    # directly: the video processor class needs torchvision, which the tests do not)
    common = {"size": {"shortest_edge": PIXELS[0], "longest_edge": PIXELS[1]}, "patch_size": 14,
              "temporal_patch_size": 2, "merge_size": 2, "image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD),
              "do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
              "do_convert_rgb": True, "resample": 3, **(pre or {})}
    files = {"preprocessor_config.json": {**common, "image_processor_type": "Qwen2VLImageProcessor",
                                          "processor_class": processor},
             "video_preprocessor_config.json": {**common, "video_processor_type": video_processor,
                                                "processor_class": processor, "fps": 2.0,
                                                "min_frames": 4, "max_frames": 768, "do_sample_frames": False},
             "chat_template.json": {"chat_template": CHAT_TEMPLATE}}
    for name, body in files.items():
        (folder / name).write_text(json.dumps(body, indent=2))
    return folder
