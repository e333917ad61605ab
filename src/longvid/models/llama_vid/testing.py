"""A tiny random LLaMA-VID checkpoint in the released on-disk layout (for tests and trials).

Design decisions:
- The layout of ``YanweiLi/llama-vid-*``: ``config.json`` with the released keys (``llava``,
  ``mm_vision_tower``, ``image_processor``, ``bert_type``, ``num_query``, ``compress_type``,
  ``mm_hidden_size``, linear ``rope_scaling``), sharded safetensors with the LLM under its
  transformers names, the Q-Former and projectors under ``model.vlm_att_*`` / ``model.mm_projector``,
  and EVA under ``model.vision_tower.vision_tower.`` (or, with ``tower_in_checkpoint=False``, as
  ``eva_vit_g.pth`` beside the model). A Vicuna-like tokenizer without a chat template (as
  Vicuna's), and BERT's vocabulary in ``bert-base-uncased/``.
- Sizes are tiny (LLM hidden 32, 2 layers; EVA 56 px, 4x4 patches, width 48, 2 blocks; Q-Former
  hidden 32, 2 layers, 32 queries); they go in ``longvid_eva_vit`` / ``longvid_qformer``,
  longvid's own keys for what the releases fix in code.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from longvid.encoders.eva_vit import EvaConfig, EvaViT
from longvid.models.llama_vid.config import BERT_FOLDER, TOWER_PREFIX, LlamaVidConfig
from longvid.models.testing import WORDS, TinyCheckpoint, llm_state, randomize, save_sharded

TINY_EVA = EvaConfig(image_size=56, patch_size=14, width=48, depth=2, heads=4, mlp_ratio=2.0)
TINY_QFORMER = {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 64, "max_positions": 64}
BERT_WORDS = sorted(set(WORDS) | {"where", "when", "is", "the", "a", "of"})


def make_vicuna_tokenizer(folder: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"]
    system_words = {"chat", "between", "curious", "user", "artificial", "intelligence", "assistant", "gives",
                    "detailed", "and", "polite", "answers", "to", "the", "questions", "USER", "ASSISTANT"}
    words = sorted(set(WORDS) | system_words)
    vocab = {t: i for i, t in enumerate(specials + words + list(".,?!:'\n"))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<unk>")
    fast.save_pretrained(str(folder))
    return fast


def make_bert_tokenizer(folder: Path) -> int:
    """BERT's layout (``vocab.txt``); returns the vocabulary size with ``[DEC]`` added."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + BERT_WORDS + list(".,?!")
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(str(folder))
    return len(vocab) + 1


def llama_vid_config(vocab_size: int, bert_vocab: int, *, compress_type: str = "mean",
                     max_positions: int = 256, rope_factor: float | None = 16.0) -> dict:
    from transformers import LlamaConfig

    d = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=4, vocab_size=vocab_size, max_position_embeddings=max_positions,
                    tie_word_embeddings=False, bos_token_id=1, eos_token_id=2).to_dict()
    for k in ("transformers_version", "dtype", "torch_dtype", "rope_parameters"):
        d.pop(k, None)
    d.update({
        "model_type": "llava", "architectures": ["LlavaLlamaAttForCausalLM"], "rope_theta": 10000.0,
        "rope_scaling": {"type": "linear", "factor": rope_factor} if rope_factor else None,
        "mm_vision_tower": "./model_zoo/LAVIS/eva_vit_g.pth",
        "image_processor": "./llamavid/processor/clip-patch14-224",
        "mm_projector_type": "mlp2x_gelu", "mm_hidden_size": TINY_EVA.width,
        "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch",
        "mm_use_im_start_end": False, "mm_use_im_patch_token": False, "use_mm_proj": True,
        "bert_type": "qformer_pretrain", "num_query": 32, "compress_type": compress_type,
        "tune_mm_mlp_adapter": False, "freeze_mm_mlp_adapter": False,
        "longvid_eva_vit": asdict(TINY_EVA), "longvid_qformer": {**TINY_QFORMER, "vocab_size": bert_vocab},
    })
    return d


def make_llama_vid(root: str | Path, *, compress_type: str = "mean", tower_in_checkpoint: bool = True,
                   max_positions: int = 256, rope_factor: float | None = 16.0) -> TinyCheckpoint:
    """Write the tiny checkpoint into ``root`` and return it."""
    from longvid.models.llama_vid.modules import LlamaVidConnector

    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    tok = make_vicuna_tokenizer(folder)
    bert_vocab = make_bert_tokenizer(folder / BERT_FOLDER)
    raw = llama_vid_config(len(tok), bert_vocab, compress_type=compress_type, max_positions=max_positions,
                           rope_factor=rope_factor)
    (folder / "config.json").write_text(json.dumps(raw, indent=2))
    cfg = LlamaVidConfig.from_dict(raw)
    state = llm_state({**raw, "model_type": "llama"})
    conn = LlamaVidConnector(cfg)
    randomize(conn, seed=2)
    state.update({f"model.{k}": v.contiguous() for k, v in conn.state_dict().items()})
    state["model.vlm_att_encoder.bert.embeddings.position_ids"] = torch.arange(cfg.qformer.max_positions)[None]
    eva = EvaViT(TINY_EVA)
    randomize(eva, seed=3)
    eva_state = {k: v.contiguous() for k, v in eva.state_dict().items()}
    if tower_in_checkpoint:
        state.update({TOWER_PREFIX + k: v for k, v in eva_state.items()})
    else:
        torch.save(eva_state, str(folder / "eva_vit_g.pth"))
    save_sharded(folder, state)
    return TinyCheckpoint(folder, {})
