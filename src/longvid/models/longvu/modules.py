"""LongVU's trained connector: the spatial vision aggregator and the projectors.

Design decisions:
- Parameter names follow the released checkpoints exactly, so a state dict loads by name with no
  renaming table: ``mm_projector_aux_{i}`` (per encoder: Linear, GELU, Linear, LayerNorm),
  ``vision_sampler_{g}.layers.{l}`` (``proj_context``, ``proj_in``, ``cross_attn.{q_proj,
  k_proj_{i}, v_proj_{i}, o_proj}``, ``pos_embed_{i}``, ``norm``, ``proj_out.{linear_1,
  linear_2}``), ``vision_query``, ``mm_projector`` (Linear, GELU, Linear) and ``image_newline``;
  all sit under ``model.`` in the checkpoint.
- The aggregator works per window: a 12x12 query grid over 24x24 encoder maps gives every query
  its own 2x2 window in each map; the query attends over the windows of both maps at once (keys
  concatenated), after mixing in a global context (the mean of the first encoder's projected
  map). Windows are a reshape, never a gather, so this is one batched attention call per layer.
- Cells that lie wholly in the padding of a padded-to-square frame are masked out of attention;
  a window with no picture at all attends everywhere (an all-masked softmax would be NaN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BiasFreeMLP(nn.Module):
    """Two bias-free linears with a GELU between them (``linear_1``, ``linear_2``)."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(d_in, d_hidden, bias=False)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(d_hidden, d_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


def _norm_linear(d_in: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, d_out, bias=False))


class MultiSourceCrossAttention(nn.Module):
    """Queries attend over the concatenated keys/values of several sources (one per encoder)."""

    def __init__(self, dim: int, kv_dims: list[int], num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"aggregator width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.num_sources = len(kv_dims)
        self.q_proj = _norm_linear(dim, dim)
        for i, kv in enumerate(kv_dims):
            setattr(self, f"k_proj_{i}", _norm_linear(kv, dim))
            setattr(self, f"v_proj_{i}", _norm_linear(kv, dim))
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, queries: torch.Tensor, sources: list[torch.Tensor], mask: torch.Tensor | None) -> torch.Tensor:
        # queries (B, Q, C); sources[i] (B, K_i, C_i); mask (B, sum K_i) bool, True = attend
        b, q, c = queries.shape
        h = self.num_heads
        k = torch.cat([getattr(self, f"k_proj_{i}")(s) for i, s in enumerate(sources)], dim=1)
        v = torch.cat([getattr(self, f"v_proj_{i}")(s) for i, s in enumerate(sources)], dim=1)
        qh = self.q_proj(queries).view(b, q, h, c // h).transpose(1, 2)
        kh = k.view(b, -1, h, c // h).transpose(1, 2)
        vh = v.view(b, -1, h, c // h).transpose(1, 2)
        attn_mask = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=attn_mask)
        return self.o_proj(out.transpose(1, 2).reshape(b, q, c))


class AggregatorLayer(nn.Module):
    """One layer: context-mixed queries cross-attend their windows, then norm, MLP and residual."""

    def __init__(self, dim: int, context_dim: int, kv_dims: list[int], window_sides: list[int],
                 num_heads: int) -> None:
        super().__init__()
        self.proj_context = nn.Linear(context_dim, dim, bias=False)
        self.proj_in = nn.Linear(dim + dim, dim, bias=False)
        self.proj_out = BiasFreeMLP(dim, dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.cross_attn = MultiSourceCrossAttention(dim, kv_dims, num_heads)
        self.window_sides = list(window_sides)
        for i, side in enumerate(window_sides):
            if side > 1:  # a learned position per cell of the window
                setattr(self, f"pos_embed_{i}", nn.Parameter(torch.zeros(side * side, dim)))

    def forward(self, queries: torch.Tensor, context: torch.Tensor, windows: list[torch.Tensor],
                mask: torch.Tensor | None) -> torch.Tensor:
        residual = queries
        x = self.proj_in(torch.cat([queries, self.proj_context(context)], dim=-1))
        sources = [
            w + getattr(self, f"pos_embed_{i}").to(w.dtype) if w.shape[1] > 1 else w
            for i, w in enumerate(windows)
        ]
        x = self.norm(x + self.cross_attn(x, sources, mask))
        return self.proj_out(x) + residual


class VisionSampler(nn.Module):
    """A stack of :class:`AggregatorLayer` (``layers.{l}``), all reading the same windows."""

    def __init__(self, dim: int, kv_dims: list[int], window_sides: list[int], depth: int, num_heads: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [AggregatorLayer(dim, dim, kv_dims, window_sides, num_heads) for _ in range(depth)]
        )

    def forward(self, queries, context, windows, mask):
        for layer in self.layers:
            queries = layer(queries, context, windows, mask)
        return queries


def to_windows(x: torch.Tensor, side: int, query_side: int) -> torch.Tensor:
    """``(B, side*side, C)`` map -> ``(B*q*q, r*r, C)``: the r x r window under each query cell."""
    b, n, c = x.shape
    r = side // query_side
    assert n == side * side and r * query_side == side, (x.shape, side, query_side)
    x = x.view(b, query_side, r, query_side, r, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b * query_side * query_side, r * r, c)


def window_mask(mask: torch.Tensor, query_side: int) -> torch.Tensor:
    """``(B, side, side)`` picture mask -> ``(B*q*q, r*r)``; all-padding windows attend everywhere."""
    b, side, _ = mask.shape
    r = side // query_side
    m = mask.view(b, query_side, r, query_side, r).permute(0, 1, 3, 2, 4).reshape(-1, r * r)
    return m | ~m.any(dim=1, keepdim=True)


class LongVUConnector(nn.Module):
    """Everything between the encoders and the LLM embeddings, with the released names."""

    def __init__(self, *, encoder_dims: list[int], encoder_grid: int, vision_hidden_size: int,
                 query_side: int, depth: int, num_heads: int, llm_hidden_size: int) -> None:
        super().__init__()
        vh = vision_hidden_size
        self.encoder_grid = encoder_grid
        self.query_side = query_side
        if encoder_grid % query_side:
            raise ValueError(f"encoder grid {encoder_grid} is not a multiple of the query grid {query_side}")
        for i, d in enumerate(encoder_dims):
            setattr(self, f"mm_projector_aux_{i}",
                    nn.Sequential(nn.Linear(d, vh), nn.GELU(), nn.Linear(vh, vh), nn.LayerNorm(vh)))
        self.num_encoders = len(encoder_dims)
        side = encoder_grid // query_side
        self.vision_sampler_0 = VisionSampler(vh, [vh] * len(encoder_dims), [side] * len(encoder_dims),
                                              depth, num_heads)
        self.vision_query = nn.Parameter(torch.zeros(1, vh))
        self.mm_projector = nn.Sequential(nn.Linear(vh, llm_hidden_size), nn.GELU(),
                                          nn.Linear(llm_hidden_size, llm_hidden_size))
        self.image_newline = nn.Parameter(torch.zeros(llm_hidden_size))

    def aggregate(self, maps: list[torch.Tensor], picture: torch.Tensor | None = None) -> torch.Tensor:
        """Encoder maps ``(B, g*g, D_i)`` -> ``(B, q*q, vision_hidden)`` aggregated queries.

        ``picture`` is an optional ``(g, g)`` or ``(B, g, g)`` bool mask of non-padding cells.
        """
        g, qs = self.encoder_grid, self.query_side
        b = maps[0].shape[0]
        dtype = self.vision_query.dtype
        projected = [getattr(self, f"mm_projector_aux_{i}")(m.to(dtype)) for i, m in enumerate(maps)]
        context = projected[0].mean(dim=1)  # global context: the first encoder's mean token
        nq = qs * qs
        queries = self.vision_query[0].view(1, 1, -1).expand(b * nq, 1, -1)
        context = context[:, None, None, :].expand(b, nq, 1, -1).reshape(b * nq, 1, -1)
        windows = [to_windows(p, g, qs) for p in projected]
        mask = None
        if picture is not None:
            pm = picture.to(projected[0].device)
            pm = pm.expand(b, g, g) if pm.ndim == 2 else pm
            wm = window_mask(pm, qs)
            mask = torch.cat([wm] * len(windows), dim=1)
        out = self.vision_sampler_0(queries, context, windows, mask)
        return out.view(b, nq, -1)

    def project(self, aggregated: torch.Tensor) -> torch.Tensor:
        return self.mm_projector(aggregated)

    def low_resolution(self, aggregated: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Bilinear resize of aggregated queries ``(B, q*q, C)`` to ``grid`` (before projection, as released)."""
        from longvid.compress.base import resize_grid

        qs = self.query_side
        return resize_grid(aggregated, (qs, qs), tuple(grid), mode="bilinear")
