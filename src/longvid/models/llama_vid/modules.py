"""LLaMA-VID's trained parts: the BLIP-2 Q-Former reading the question, and the token generator.

Design decisions:
- Written here in torch under the released parameter names (``model.`` + these):
  ``vlm_att_encoder.bert.{embeddings,encoder.layer.N}`` (the LAVIS Q-Former's BERT: no token
  types, no pooler, a ``crossattention`` block every ``cross_attention_freq`` layers reading the
  frame's features, a second feed-forward ``intermediate_query``/``output_query`` for the
  queries), ``vlm_att_query`` (1, 32, 768), ``vlm_att_ln`` (BLIP-2's ``ln_vision``),
  ``vlm_att_projector`` (768 -> 1408), ``vlm_att_key_projector`` (1408 -> 1408),
  ``vlm_att_val_projector`` (1408 -> LLM), ``mm_projector`` (the 2-layer MLP). transformers'
  InstructBLIP Q-Former names its weights differently (``attention.attention``, ``layernorm``),
  so a rename table would be as long as the module and harder to check.
- The BERT position ids are an ``arange`` (the checkpoints may or may not store the buffer);
  a stored ``...embeddings.position_ids`` is accepted and ignored by the family.
- One frame's tokens, as the original computes them: the Q-Former reads the question with its
  32 queries, cross-attending to all of the frame's EVA tokens (class token included); the
  queries, projected to 1408, attend over the 256 patches (keys through the key projector,
  values the raw patches, scaled by sqrt(1408)); the 32 results are averaged and projected: the
  *context* token. The patches pooled (``mean``: one token; ``grid:N``: average pools of stride
  ``16 // N``) through ``mm_projector``: the *content* tokens. Context first.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from longvid.models.llama_vid.config import LlamaVidConfig, QFormerConfig

QFORMER_BLOCK = 64  # frames per Q-Former pass (the original's long-video block)


class BertSelfAttention(nn.Module):
    def __init__(self, cfg: QFormerConfig, cross: bool) -> None:
        super().__init__()
        kv_in = cfg.encoder_width if cross else cfg.hidden_size
        self.heads = cfg.num_heads
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(kv_in, cfg.hidden_size)
        self.value = nn.Linear(kv_in, cfg.hidden_size)

    def forward(self, x, context, bias):
        b, n, d = x.shape

        def split(t):
            return t.view(b, t.shape[1], self.heads, -1).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(context)), split(self.value(context))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return y.transpose(1, 2).reshape(b, n, d)


class BertSelfOutput(nn.Module):
    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, cfg: QFormerConfig, cross: bool = False) -> None:
        super().__init__()
        self.self = BertSelfAttention(cfg, cross)
        self.output = BertSelfOutput(cfg)

    def forward(self, x, context=None, bias=None):
        return self.output(self.self(x, x if context is None else context, bias), x)


class BertIntermediate(nn.Module):
    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x):
        return F.gelu(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class BertLayer(nn.Module):
    def __init__(self, cfg: QFormerConfig, index: int) -> None:
        super().__init__()
        self.attention = BertAttention(cfg)
        self.has_cross_attention = index % cfg.cross_attention_freq == 0
        if self.has_cross_attention:
            self.crossattention = BertAttention(cfg, cross=True)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertOutput(cfg)
        self.intermediate_query = BertIntermediate(cfg)
        self.output_query = BertOutput(cfg)

    def forward(self, x, bias, image, num_query: int):
        x = self.attention(x, bias=bias)
        q = x[:, :num_query]
        if self.has_cross_attention:
            q = self.crossattention(q, image)
        q = self.output_query(self.intermediate_query(q), q)
        if x.shape[1] == num_query:
            return q
        t = x[:, num_query:]
        return torch.cat([q, self.output(self.intermediate(t), t)], dim=1)


class BertEncoder(nn.Module):
    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(cfg, i) for i in range(cfg.num_layers))


class BertEmbeddings(nn.Module):
    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, input_ids, queries):
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        text = self.word_embeddings(input_ids) + self.position_embeddings(pos)[None]
        return self.LayerNorm(torch.cat([queries, text.to(queries.dtype)], dim=1))  # queries carry no position


class BertModel(nn.Module):
    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)

    def forward(self, input_ids, attention_mask, queries, image):
        """Last hidden states of the queries: ``(B, Q, hidden)``."""
        x = self.embeddings(input_ids, queries)
        mask = torch.cat([torch.ones(queries.shape[:2], dtype=attention_mask.dtype, device=x.device),
                          attention_mask.to(x.device)], dim=1)
        bias = ((1.0 - mask[:, None, None, :].to(x.dtype)) * -10000.0)  # BERT's additive padding mask
        for layer in self.encoder.layer:
            x = layer(x, bias, image, queries.shape[1])
        return x[:, :queries.shape[1]]


class QFormer(nn.Module):
    """``vlm_att_encoder``: the BERT of a BLIP-2 Q-Former (its LM head was dropped)."""

    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.bert = BertModel(cfg)


def projector(depth: int, d_in: int, d_out: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(d_in, d_out)]
    for _ in range(depth - 1):
        layers += [nn.GELU(), nn.Linear(d_out, d_out)]
    return layers[0] if depth == 1 else nn.Sequential(*layers)


class LlamaVidConnector(nn.Module):
    """Everything between EVA and the LLM, under the released names (prefix ``model.``)."""

    def __init__(self, cfg: LlamaVidConfig) -> None:
        super().__init__()
        q = cfg.qformer
        self.config = cfg
        self.mm_projector = projector(cfg.projector_depth, cfg.mm_hidden_size, cfg.hidden_size)
        self.vlm_att_encoder = QFormer(q)
        self.vlm_att_query = nn.Parameter(torch.zeros(1, cfg.num_query, q.hidden_size))
        self.vlm_att_projector = nn.Linear(q.hidden_size, cfg.mm_hidden_size)
        self.vlm_att_key_projector = nn.Linear(cfg.mm_hidden_size, cfg.mm_hidden_size)
        self.vlm_att_val_projector = nn.Linear(cfg.mm_hidden_size, cfg.hidden_size)
        if cfg.pretrained_qformer:
            self.vlm_att_ln = nn.LayerNorm(cfg.att_feat_size)
            if cfg.mm_hidden_size != cfg.att_feat_size:
                self.vlm_att_bert_proj = nn.Linear(cfg.mm_hidden_size, cfg.att_feat_size)

    def text_queries(self, frames: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(T, 1+N, C)`` EVA tokens and one tokenized question -> ``(T, Q, C)`` query vectors."""
        w = self.vlm_att_query
        feats = frames.to(w.dtype)
        if hasattr(self, "vlm_att_bert_proj"):
            feats = self.vlm_att_bert_proj(feats)
        if hasattr(self, "vlm_att_ln"):
            feats = self.vlm_att_ln(feats)
        t = feats.shape[0]
        out = self.vlm_att_encoder.bert(input_ids.expand(t, -1), attention_mask.expand(t, -1),
                                        w.expand(t, -1, -1), feats)
        return self.vlm_att_projector(out)

    def frame_tokens(self, text_q: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """``(T, Q, C)`` queries and ``(T, N, C)`` patches -> ``(T, 1 + content, H)``: context, content."""
        patches = patches.to(text_q.dtype)
        scores = text_q @ self.vlm_att_key_projector(patches).transpose(-1, -2) / math.sqrt(patches.shape[-1])
        ctx = self.vlm_att_val_projector((scores.softmax(-1) @ patches).mean(1, keepdim=True))
        n = self.config.content_grid
        if n is None:
            content = patches.mean(1, keepdim=True)
        else:
            side = math.isqrt(patches.shape[1])
            stride = side // n
            grid = patches.reshape(patches.shape[0], side, side, -1).permute(0, 3, 1, 2)
            content = F.avg_pool2d(grid, kernel_size=stride, stride=stride).flatten(2).transpose(1, 2)
        return torch.cat([ctx, self.mm_projector(content)], dim=1)

    def forward(self, frames: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """EVA tokens (class token first) of ``T`` frames and the question -> ``(T, tokens_per_frame, H)``."""
        outs = []
        for s in range(0, frames.shape[0], QFORMER_BLOCK):
            f = frames[s:s + QFORMER_BLOCK]
            outs.append(self.frame_tokens(self.text_queries(f, input_ids, attention_mask), f[:, 1:]))
        return torch.cat(outs)
