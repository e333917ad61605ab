"""Tiny random checkpoints in the released on-disk layouts (config keys, weight names, tokenizer).

For tests and for trying the engines without downloading 7B weights, as transformers'
"tiny-random" models serve its users: ``make_longvu(dir)`` / ``make_longva(dir)`` write a model
folder that ``longvid.models.load_engine`` loads like a released one, and return a
:class:`TinyCheckpoint` (the folder and the ``vision_towers`` mapping to pass with it). The
answers are random words; the shapes, names, provenance and budgets are real.

Design decisions:
- Sizes: LLM hidden 32, 2 layers; towers hidden 32-48, 2-3 layers, at their real input
  resolutions (so grids are the released 27x27 -> 24x24 for LongVU and 24x24 for LongVA).
- Layouts as released: sharded safetensors with an index; LongVU's towers in their own folders
  (its checkpoints do not carry them), LongVA's CLIP weights inside the checkpoint under the
  transformers-4 names, with a folder holding only the CLIP config.
- Weights are seeded, so a folder built twice holds the same tensors.
- Needs the ``models`` extra (transformers, tokenizers, safetensors); nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from longvid.errors import require

require("transformers", extra="models")  # and its tokenizers; safetensors comes with the same extra


@dataclass(frozen=True)
class TinyCheckpoint:
    """A model folder and the ``vision_towers`` mapping that finds its towers."""

    folder: Path
    vision_towers: dict[str, str]

WORDS = ("what is in the video a red green blue square moving cat dog yes no it there "
         "color which one how many frames answer user assistant system you are helpful").split()
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# The Llama-3.2 Instruct layout, reduced to what a video question uses: a system block that
# opens with the knowledge cutoff and today's date (``date_string``; when the caller gives none,
# ``strftime_now`` where the renderer defines it, else the template's fixed fallback date), then
# header-delimited turns. Written here from the rendered format, so tests can check the date line.
LLAMA32_FALLBACK_DATE = "26 Jul 2024"
LLAMA32 = (
    "{{ bos_token }}"
    "{% if date_string is not defined %}{% if strftime_now is defined %}"
    "{% set date_string = strftime_now('%d %b %Y') %}"
    "{% else %}{% set date_string = '" + LLAMA32_FALLBACK_DATE + "' %}{% endif %}{% endif %}"
    "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}"
    "{% set rest = messages[1:] %}{% else %}{% set sys = '' %}{% set rest = messages %}{% endif %}"
    "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
    "Today Date: {{ date_string }}\n\n{{ sys }}<|eot_id|>"
    "{% for m in rest %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
LLMKind = Literal["qwen2", "llama3_2"]


def make_tokenizer(folder: Path, llm: LLMKind = "qwen2"):
    """A word-level tokenizer with the LLM family's special tokens and chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if llm == "llama3_2":
        specials = ["[UNK]", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                    "<|end_header_id|>", "<|eot_id|>"]
        extra = sorted(set("cutting knowledge date december today jul 2023 2024".split())) + list("0123456789")
    else:
        specials = ["[UNK]", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        extra = []
    words = sorted(set(WORDS) | set(extra))
    vocab = {t: i for i, t in enumerate(specials + words + list(".,?!:\n"))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials[1:])
    if llm == "llama3_2":
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="<|begin_of_text|>",
                                       eos_token="<|eot_id|>", pad_token="<|end_of_text|>")
        fast.chat_template = LLAMA32
    else:
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<|im_end|>",
                                       pad_token="<|endoftext|>")
        fast.chat_template = CHATML
    fast.save_pretrained(str(folder))
    return fast


def _plain(cfg) -> dict:
    d = cfg.to_dict()
    for k in ("transformers_version", "dtype", "torch_dtype"):
        d.pop(k, None)
    return d


def qwen2_config(vocab_size: int, **kw) -> dict:
    from transformers import Qwen2Config

    return _plain(Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, vocab_size=vocab_size, max_position_embeddings=4096,
                              tie_word_embeddings=False, **kw))


# Llama-3.2's RoPE scaling as its released configs write it (the key the old loader tripped on)
LLAMA32_ROPE_SCALING = {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                        "original_max_position_embeddings": 8192, "rope_type": "llama3"}


def llama32_config(vocab_size: int, **kw) -> dict:
    """A tiny Llama-3.2: tied embeddings, ``llama3`` rope scaling, 128k positions, as released."""
    from transformers import LlamaConfig

    d = _plain(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, head_dim=8, vocab_size=vocab_size, max_position_embeddings=131072,
                           tie_word_embeddings=True, rope_theta=500000.0, bos_token_id=1, eos_token_id=5, **kw))
    # the released file's spelling, whatever today's transformers would write
    d.pop("rope_parameters", None)
    d["rope_scaling"] = dict(LLAMA32_ROPE_SCALING)
    d["rope_theta"] = 500000.0
    return d


def llm_state(cfg_dict: dict) -> dict[str, torch.Tensor]:
    import transformers

    llama = cfg_dict.get("model_type") in ("llama", "cambrian_llama")
    conf, model = ("LlamaConfig", "LlamaForCausalLM") if llama else ("Qwen2Config", "Qwen2ForCausalLM")
    torch.manual_seed(0)
    d = {k: v for k, v in cfg_dict.items() if k not in ("model_type", "architectures")}
    m = getattr(transformers, model)(getattr(transformers, conf).from_dict(d))
    state = {k: v.contiguous() for k, v in m.state_dict().items()}
    if getattr(m.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # tied checkpoints store the embedding once
    return state


def randomize(module: torch.nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def save_sharded(folder: Path, state: dict[str, torch.Tensor], shards: int = 2) -> None:
    """Save as ``model-0000i-of-0000n.safetensors`` plus the index, as the releases are stored."""
    from safetensors.torch import save_file

    keys = sorted(state)
    n = len(keys)
    weight_map = {}
    for s in range(shards):
        part = keys[s * n // shards:(s + 1) * n // shards]
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: state[k].contiguous() for k in part}, str(folder / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


# ----------------------------------------------------------------------------- encoders
def tiny_siglip(folder: Path) -> Path:
    from transformers import SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(2)
    SiglipVisionModel(SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, image_size=384, patch_size=14)).save_pretrained(folder)
    return folder


def tiny_dinov2(folder: Path) -> Path:
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(3)
    Dinov2Model(Dinov2Config(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2,
                             image_size=378, patch_size=14)).save_pretrained(folder)
    return folder


def tiny_clip_config():
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                            image_size=336, patch_size=14, projection_dim=16)


# ----------------------------------------------------------------------------- LongVU
LONGVU_TOWERS = ["siglip/CLIP-ViT-SO400M-14-384", "facebook/dinov2-giant-res378"]


def longvu_config(vocab_size: int, *, context: int, lowres_token: int = 8, llm: LLMKind = "qwen2") -> dict:
    if llm == "llama3_2":
        d = llama32_config(vocab_size)
        d.update({"architectures": ["CambrianLlamaForCausalLM"], "model_type": "cambrian_llama"})
    else:
        d = qwen2_config(vocab_size)
        d.update({"architectures": ["CambrianQwenForCausalLM"], "model_type": "cambrian_qwen"})
    d.update({
        "mm_projector_type": "sva", "mm_vision_tower_aux_list": LONGVU_TOWERS,
        "mm_vision_tower_aux_token_len_list": [576, 576], "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch", "mm_hidden_size": 1024, "vision_hidden_size": 32,
        "num_query_group": 1, "query_num_list": [144], "image_token_len": 144, "connector_depth": 3,
        "connector_only": True, "highres": True, "lowres_token": lowres_token, "dino_threshold": 0.83,
        "drop_threshold": 0.7, "tokenizer_model_max_length": context, "image_aspect_ratio": "pad",
        "mm_use_im_start_end": False, "mm_use_im_patch_token": False, "is_image_newline": True,
        "frame_pos": False, "tokenizer_padding_side": "right", "use_mm_proj": True,
    })
    return d


def make_longvu(root: Path, *, context: int = 1200, lowres_token: int = 8, llm: LLMKind = "qwen2") -> TinyCheckpoint:
    """A LongVU folder (``root/LongVU_tiny``) and its two tower folders under ``root``.

    ``context``: ``tokenizer_model_max_length``; ``lowres_token``: the low-resolution side;
    ``llm``: ``"qwen2"`` (LongVU_Qwen2_7B's layout) or ``"llama3_2"`` (LongVU_Llama3_2_3B's:
    ``cambrian_llama``, tied embeddings, ``llama3`` rope scaling, the Llama-3.2 chat template).
    """
    from longvid.models.longvu.family import LongVUFamily

    root = Path(root)
    folder = root / "LongVU_tiny"
    folder.mkdir(parents=True)
    tok = make_tokenizer(folder, llm)
    cfg = longvu_config(len(tok), context=context, lowres_token=lowres_token, llm=llm)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    fam = LongVUFamily()
    conn = fam.build_connector(fam.parse_config(cfg), [32, 48])
    randomize(conn)
    state = llm_state(cfg)
    state.update({"model." + k: v for k, v in conn.state_dict().items()})
    save_sharded(folder, state)
    towers = {LONGVU_TOWERS[0]: str(tiny_siglip(root / "siglip")),
              LONGVU_TOWERS[1]: str(tiny_dinov2(root / "dinov2"))}
    return TinyCheckpoint(folder, towers)


# ----------------------------------------------------------------------------- LongVA
CLIP_NAME = "openai/clip-vit-large-patch14-336"


def longva_config(vocab_size: int, *, context: int) -> dict:
    d = qwen2_config(vocab_size, rope_theta=1e9)
    d.update({
        "architectures": ["LlavaQwenForCausalLM"], "model_type": "llava_qwen",
        "mm_vision_tower": CLIP_NAME, "mm_hidden_size": 32, "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch", "mm_patch_merge_type": "unires",
        "mm_spatial_pool_mode": "average", "mm_spatial_pool_stride": 2, "image_aspect_ratio": "anyres",
        "image_grid_pinpoints": [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],
        "mm_use_im_start_end": False, "mm_use_im_patch_token": False, "use_mm_proj": True,
        "tokenizer_model_max_length": 2048, "max_position_embeddings": context,
        "tokenizer_padding_side": "right", "mm_resampler_type": None, "mm_tunable_parts": "mm_vision_tower,mm_mlp_adapter,mm_language_model",
    })
    return d


def make_longva(root: Path, *, context: int = 2000) -> TinyCheckpoint:
    """A LongVA folder (``root/LongVA_tiny``, CLIP weights inside, as released) and a folder with
    the CLIP config (``root/clip_config``). ``context``: ``max_position_embeddings``."""
    from transformers import CLIPVisionModel

    from longvid.models.longva.config import LongVAConfig
    from longvid.models.longva.model import LongVAConnector

    root = Path(root)
    folder = root / "LongVA_tiny"
    folder.mkdir(parents=True)
    tok = make_tokenizer(folder)
    cfg = longva_config(len(tok), context=context)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    conn = LongVAConnector(LongVAConfig.from_dict(cfg))
    randomize(conn, seed=5)
    torch.manual_seed(6)
    clip = CLIPVisionModel(tiny_clip_config())
    state = llm_state(cfg)
    state.update({"model." + k: v for k, v in conn.state_dict().items()})
    # transformers 4 layout, as the released files have it: vision_model.<...>
    state.update({"model.vision_tower.vision_tower.vision_model." + k: v.contiguous()
                  for k, v in clip.state_dict().items()})
    save_sharded(folder, state, shards=3)
    cfg_dir = root / "clip_config"
    tiny_clip_config().save_pretrained(str(cfg_dir))
    return TinyCheckpoint(folder, {CLIP_NAME: str(cfg_dir)})
