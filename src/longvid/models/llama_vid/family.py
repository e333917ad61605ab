"""The LLaMA-VID family: claims ``llava`` checkpoints that carry a Q-Former (``bert_type``).

Design decisions:
- The shared loader does the work: the LLM is transformers' ``LlamaForCausalLM`` (Vicuna) with
  the config's ``rope_scaling`` (linear x16 in the long-video release) passed through; EVA-ViT-G
  is the tower (from the checkpoint when it carries ``model.vision_tower.vision_tower.*``, else
  ``eva_vit_g.pth`` next to the model, ``vision_towers={"eva_vit_g": PATH}`` or the config's
  ``mm_vision_tower`` path); the connector is the Q-Former and the projectors under ``model.``.
- The Q-Former's tokenizer is BERT's (bert-base-uncased with ``[DEC]`` added, truncating from
  the left), read from a ``bert-base-uncased`` subfolder of the model, else the hub.
- Memory: every frame grows the sequence by its tokens (2 with ``mean``), and every sampled
  frame holds its EVA tokens (257 x 1408) until its Q-Former pass; the profile spreads those
  held features over the frame's sequence tokens (``held_width``), so the planner's arithmetic
  (held + sequence tokens x (KV + activations)) is exact for both.
"""

from __future__ import annotations

import math

from longvid.models.family import CheckpointSpec, MemoryProfile, ModelFamily, register_family
from longvid.models.llama_vid.config import BERT_FOLDER, LLM_FAMILIES, TOWER_PREFIX, LlamaVidConfig
from longvid.models.llama_vid.transcript import DEFAULT_TRANSCRIPT, Transcript, check_transcript

POSITION_IDS = "model.vlm_att_encoder.bert.embeddings.position_ids"  # a buffer some checkpoints store


@register_family("llama_vid")
class LlamaVidFamily(ModelFamily):
    model_types = tuple(LLM_FAMILIES)
    config_class = LlamaVidConfig
    default_checkpoint = "YanweiLi/llama-vid-7b-full-224-long-video"

    def checkpoint(self, config: LlamaVidConfig) -> CheckpointSpec:
        return CheckpointSpec(llm=config.llm, towers=(config.tower(),), connector_prefix="model.",
                              tower_prefixes=(TOWER_PREFIX, POSITION_IDS))

    def build_connector(self, config: LlamaVidConfig, encoder_dims: list[int]):
        from longvid.models.llama_vid.modules import LlamaVidConnector

        return LlamaVidConnector(config)

    def memory_profile(self, config: LlamaVidConfig) -> MemoryProfile:
        per = config.tokens_per_frame
        eva_tokens = config.eva.grid ** 2 + 1
        return MemoryProfile(context_length=config.context_length, held_tokens_per_frame=per,
                             held_width=math.ceil(eva_tokens * config.eva.width / per) + config.hidden_size,
                             sequence_grows=True, encoder_tokens=eva_tokens)

    def build_model(self, parts):
        from longvid.models.llama_vid.model import LlamaVidModel

        model = LlamaVidModel.from_parts(parts)
        model.qformer_tokenizer = load_qformer_tokenizer(parts.config)
        return model

    @staticmethod
    def create_engine(model: str = default_checkpoint, **options):
        """The LLaMA-VID engine (subtitles or speech after each frame's tokens); ``transcript``
        (auto/subtitles/speech/none) and the options of ``load_engine``."""
        return load_llama_vid_engine(model, **options)


def load_qformer_tokenizer(config: LlamaVidConfig):
    """BERT's tokenizer as the original sets it up: ``[DEC]`` as bos, truncation from the left."""
    from pathlib import Path

    from longvid.errors import ModelLoadError, require
    from longvid.models.checkpoint import resolve_model_dir

    transformers = require("transformers", extra="models")
    local = Path(config.folder or ".") / BERT_FOLDER
    source = local if local.is_dir() else resolve_model_dir(BERT_FOLDER)
    try:
        tok = transformers.BertTokenizerFast.from_pretrained(str(source), truncation_side="left")
    except Exception as exc:  # transformers raises many kinds here
        raise ModelLoadError(f"cannot load the Q-Former's BERT tokenizer from {source} ({exc}); put "
                             f"bert-base-uncased's vocab.txt in {local}") from exc
    tok.add_special_tokens({"bos_token": "[DEC]"})
    if len(tok) > config.qformer.vocab_size:
        raise ModelLoadError(f"the BERT tokenizer in {source} has {len(tok)} tokens but the Q-Former's "
                             f"embeddings hold {config.qformer.vocab_size}")
    return tok


def load_llama_vid_engine(model: str, *, transcript: Transcript = DEFAULT_TRANSCRIPT, **options):
    """``load_engine`` for LLaMA-VID, returning its engine with ``transcript`` set (``"auto"``:
    subtitles, else the speech; ``"subtitles"``, ``"speech"``, ``"none"``)."""
    from longvid.models.engine import load_shared_engine
    check_transcript(transcript)  # before loading any weight
    eng = load_shared_engine(model, family="llama_vid", **options)
    eng.transcript = transcript
    return eng
