"""Tiny random LLaVA-OneVision checkpoints in the released (transformers) layout, built offline.

Design decisions:
- The model is transformers' own ``LlavaOnevisionForConditionalGeneration`` with a tiny config:
  a 2-layer SigLIP tower at 98 px / patch 14 (a 7x7 grid, pooled to ceil 4x4 = 16 tokens a
  frame, so the odd-side rounding of the pooling is exercised), the 2-layer projector, a Qwen2
  LLM of hidden 32 and 2 layers; seeded, widened so greedy answers depend on the input, saved
  with ``save_pretrained``.
- The tokenizer is a word-level vocabulary with the release's special tokens (``<image>``,
  ``<video>``, ChatML markers), the chat template has the release's structure (videos before
  the text of a user turn), and the processor files are written as the release's, with SigLIP's
  mean/std 0.5: nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

from longvid.errors import require

# A real-size config: the released config.json values that decide LLaVA-OneVision-7B's size (for the
# memory planner and benchmarks on the meta device or with random weights; no weights are implied).
LLAVA_ONEVISION_7B = {
    "model_type": "llava_onevision", "video_token_index": 151647, "image_token_index": 151646,
    "vision_feature_layer": -1, "vision_feature_select_strategy": "full",
    "text_config": {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                    "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152128,
                    "max_position_embeddings": 32768},
    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304,
                      "num_hidden_layers": 26, "num_attention_heads": 16, "image_size": 384, "patch_size": 14,
                      "vision_use_head": False},
}
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")
WORDS = ("the", "a", "video", "what", "is", "in", "this", "shows", "red", "green", "blue", "cat", "dog",
         "person", "says", "on", "screen", "when", "does", "happen", "system", "user", "assistant",
         "you", "are", "helpful", "describe", "it", "and", "of", "to", "?", ".", ",", ":")
IMAGE_SIZE, PATCH = 98, 14

# The released LLaVA-OneVision (Qwen2) chat template's structure: ChatML, a user turn's images
# and videos first, then its text on a new line.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }} "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image>{% endif %}{% endfor %}"
    "{% for c in message['content'] %}{% if c['type'] == 'video' %}<video>{% endif %}{% endfor %}"
    "{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ '\\n' + c['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(("[UNK]",) + SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(list(SPECIALS))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")


def make_llava_onevision(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a seeded tiny LLaVA-OneVision checkpoint and processor into ``folder``; return it."""
    require("transformers", extra="models")
    import torch
    import transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    vision = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": IMAGE_SIZE, "patch_size": PATCH,
              "vision_use_head": False}
    text = {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": len(tok),
            "max_position_embeddings": 4096, "tie_word_embeddings": False, "bos_token_id": None,
            "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]}
    cfg = transformers.LlavaOnevisionConfig(
        vision_config=vision, text_config=text, image_token_index=ids["<image>"], video_token_index=ids["<video>"],
        vision_feature_layer=-1, vision_feature_select_strategy="full",
        image_grid_pinpoints=[[IMAGE_SIZE, IMAGE_SIZE]], tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = transformers.LlavaOnevisionForConditionalGeneration(cfg).eval()
    with torch.no_grad():  # random init is tiny; widen it so greedy answers differ between inputs
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    model.save_pretrained(str(folder))
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(folder))
    common = {"do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
              "do_convert_rgb": True, "resample": 3, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
              "processor_class": "LlavaOnevisionProcessor"}
    files = {"preprocessor_config.json": {**common, "image_processor_type": "LlavaOnevisionImageProcessor",
                                          "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                          "image_grid_pinpoints": [[IMAGE_SIZE, IMAGE_SIZE]]},
             "video_preprocessor_config.json": {**common, "video_processor_type": "LlavaOnevisionVideoProcessor",
                                                "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE}},
             "chat_template.json": {"chat_template": CHAT_TEMPLATE}}
    for name, body in files.items():
        (folder / name).write_text(json.dumps(body, indent=2))
    return folder
