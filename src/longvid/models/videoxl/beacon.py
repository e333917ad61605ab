"""Video-XL's streaming windowed prefill: beacon tokens, their own projections, and a KV cache
that keeps only what the beacons summarise.

Design decisions (the method in our words, matching the released inference path):
- The sequence is ``[text before the video] [video tokens] [text after it]``. The text before is
  prefilled once and kept whole (the original's ``beacon_skip_first``: everything before the
  video placeholder); the video is cut into windows of ``window`` raw tokens (1440: ten frames);
  everything from the end of the video on is kept whole too (``beacon_skip_last``: the video's
  end), question and answer alike.
- Inside a window a beacon follows every ``r`` raw tokens (interleaved). Beacons are embedded by
  the checkpoint's ``beacon_embed_tokens`` and take their query/key/value (and ``o``/MLP when the
  config lists them) from the ``beacon_*`` projections; raw tokens use the ordinary ones.
  Attention is plain causal over ``[memory | window]`` ("full-coverage"). After the window only
  the beacons' key/values join the memory; the raw ones are dropped. Raw tokens after the last
  beacon of a short final window are dropped with it, as in the original.
- Keys are cached *before* rotary embedding and rotated at every step with compact positions
  ``0 .. memory + window - 1``: memory entries sit at the positions of their order, so a
  10,000-frame video needs positions for its beacons, not for its frames.
- Ratio 1 is no compression: no beacon is inserted and the window's raw key/values are kept.
  With one window this is exactly a plain forward of the whole sequence (tested).
- Memory: the cache holds ``prefix + beacons + suffix`` entries plus one window in flight; the
  caller feeds visual tokens as frames are encoded (``add_video``), so frames are never all held.
- Every beacon is recorded (:class:`BeaconSpan`) with the first and last raw token it
  summarises, their frames and times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BeaconSpan:
    """One beacon: the window it closed and the raw tokens (frames, times, cells) it summarises."""

    window: int
    first_frame: int
    last_frame: int
    start_s: float
    end_s: float
    first_cell: int
    last_cell: int
    raw_tokens: int


class KVCache:
    """Per-layer key/value tensors ``(1, kv_heads, S, head_dim)``, keys before rotary embedding."""

    def __init__(self, layers: int) -> None:
        self.k: list[torch.Tensor | None] = [None] * layers
        self.v: list[torch.Tensor | None] = [None] * layers

    def __len__(self) -> int:
        return 0 if self.k[0] is None else int(self.k[0].shape[2])

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        self.k[layer] = k if self.k[layer] is None else torch.cat([self.k[layer], k], dim=2)
        self.v[layer] = v if self.v[layer] is None else torch.cat([self.v[layer], v], dim=2)

    def nbytes(self) -> int:
        """Bytes of the cached tensors (what the memory claim is measured on)."""
        return sum(t.numel() * t.element_size() for t in (*self.k, *self.v) if t is not None)


def beacon_layout(n_raw: int, ratio: int) -> torch.Tensor:
    """Boolean mask over ``n_raw + n_raw // ratio`` slots: True where a beacon sits (after every
    ``ratio`` raw tokens). Ratio 1 means no beacons."""
    if ratio <= 1:
        return torch.zeros(n_raw, dtype=torch.bool)
    slots = n_raw + n_raw // ratio
    return torch.arange(slots) % (ratio + 1) == ratio


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class BeaconLM:
    """A Qwen2 causal LM (transformers' modules, the checkpoint's weights) run step by step with
    beacon rows taking the beacon projections. ``beacons`` holds the ``beacon_*`` modules under
    the released names (``beacon_embed_tokens``, ``layers.N.self_attn.beacon_q_proj``...)."""

    def __init__(self, llm, beacons, beacon_param: tuple[str, ...]) -> None:
        self.llm = llm
        self.base = llm.model
        self.beacons = beacons
        self.param = set(beacon_param)
        cfg = llm.config
        self.heads = int(cfg.num_attention_heads)
        self.kv_heads = int(getattr(cfg, "num_key_value_heads", None) or self.heads)
        self.layers = len(self.base.layers)

    def new_cache(self) -> KVCache:
        return KVCache(self.layers)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        emb = self.base.embed_tokens
        return emb(ids.to(emb.weight.device))

    def beacon_embedding(self, n: int) -> torch.Tensor:
        w = self.beacons.beacon_embed_tokens.weight  # (1, H): one learned beacon token
        return w.expand(n, -1)

    @staticmethod
    def _mixed(x: torch.Tensor, mask: torch.Tensor | None, plain, beacon) -> torch.Tensor:
        out = plain(x)
        if beacon is not None and mask is not None and bool(mask.any()):
            out = out.clone()
            out[:, mask] = beacon(x[:, mask])
        return out

    @torch.inference_mode()
    def forward(self, x: torch.Tensor, beacon: torch.Tensor | None, cache: KVCache,
                keep: torch.Tensor | None = None, logits: bool = False, rows: int = 1) -> torch.Tensor | None:
        """Run ``x`` (``(L, H)`` input embeddings) after ``cache``; append the key/values of rows
        ``keep`` (all when None) to the cache. Returns, when asked, the last row's logits ``(V,)``,
        or with ``rows > 1`` the last ``rows`` rows' ``(rows, V)`` (scoring a continuation)."""
        dev = self.base.embed_tokens.weight.device
        dtype = self.base.embed_tokens.weight.dtype
        h = x.to(device=dev, dtype=dtype).unsqueeze(0)
        n = h.shape[1]
        mem = len(cache)
        if beacon is not None:
            beacon = beacon.to(dev)
        pos = torch.arange(mem + n, device=dev)[None]
        cos, sin = self.base.rotary_emb(h, pos)
        cos, sin = cos[:, None], sin[:, None]  # (1, 1, S, d)
        # causal inside the window, all of the memory visible
        allowed = torch.ones(n, mem + n, dtype=torch.bool, device=dev)
        allowed[:, mem:] = torch.ones(n, n, dtype=torch.bool, device=dev).tril()
        for i, layer in enumerate(self.base.layers):
            att = layer.self_attn
            b = self.beacons.layers[i]
            res = h
            y = layer.input_layernorm(h)
            d = att.head_dim
            q = self._mixed(y, beacon, att.q_proj, getattr(b.self_attn, "beacon_q_proj", None))
            k = self._mixed(y, beacon, att.k_proj, getattr(b.self_attn, "beacon_k_proj", None))
            v = self._mixed(y, beacon, att.v_proj, getattr(b.self_attn, "beacon_v_proj", None))
            q = q.view(1, n, self.heads, d).transpose(1, 2)
            k = k.view(1, n, self.kv_heads, d).transpose(1, 2)
            v = v.view(1, n, self.kv_heads, d).transpose(1, 2)
            sel = slice(None) if keep is None else keep.to(dev)
            kk = k if cache.k[i] is None else torch.cat([cache.k[i], k], dim=2)
            vv = v if cache.v[i] is None else torch.cat([cache.v[i], v], dim=2)
            cache.append(i, k[:, :, sel], v[:, :, sel])  # before rotation, as the original caches them
            qr = q * cos[:, :, mem:] + _rotate_half(q) * sin[:, :, mem:]
            kr = kk * cos + _rotate_half(kk) * sin
            rep = self.heads // self.kv_heads
            kr = kr.repeat_interleave(rep, dim=1)
            vv = vv.repeat_interleave(rep, dim=1)
            o = F.scaled_dot_product_attention(qr, kr, vv, attn_mask=allowed)
            o = o.transpose(1, 2).reshape(1, n, self.heads * d)
            o = self._mixed(o, beacon, att.o_proj, getattr(b.self_attn, "beacon_o_proj", None))
            h = res + o
            res = h
            y = layer.post_attention_layernorm(h)
            mlp = layer.mlp
            out = mlp.down_proj(mlp.act_fn(mlp.gate_proj(y)) * mlp.up_proj(y))
            bm = getattr(b, "mlp", None)
            if bm is not None and beacon is not None and bool(beacon.any()):
                yb = y[:, beacon]
                out = out.clone()
                out[:, beacon] = bm.beacon_down_proj(mlp.act_fn(mlp.gate_proj(yb)) * bm.beacon_up_proj(yb))
            h = res + out
        if not logits:
            return None
        out = self.llm.lm_head(self.base.norm(h[:, -rows:]))[0].float()
        return out[-1] if rows == 1 else out


@dataclass
class _Pending:
    tokens: list[torch.Tensor] = field(default_factory=list)
    frames: list[torch.Tensor] = field(default_factory=list)
    times: list[torch.Tensor] = field(default_factory=list)
    cells: list[torch.Tensor] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(int(t.shape[0]) for t in self.tokens)

    def take(self, n: int):
        cat = [torch.cat(x) for x in (self.tokens, self.frames, self.times, self.cells)]
        head = [c[:n] for c in cat]
        rest = [c[n:] for c in cat]
        self.tokens, self.frames, self.times, self.cells = ([r] if len(r) else [] for r in rest)
        return head


class BeaconPrefill:
    """Feeds one sequence through :class:`BeaconLM`: text kept whole, video compressed window by
    window as its tokens arrive. ``spans`` lists every beacon with what it summarises."""

    def __init__(self, lm: BeaconLM, *, window: int, ratio: int) -> None:
        self.lm, self.window, self.ratio = lm, int(window), int(ratio)
        self.cache = lm.new_cache()
        self.pending = _Pending()
        self.spans: list[BeaconSpan] = []
        self.windows = 0
        self.raw_tokens = 0
        self.peak_bytes = 0  # largest cache size seen with a window in flight (measured)
        self.dropped = 0  # raw tokens after the last beacon of a short final window

    def add_text(self, ids_or_embeds: torch.Tensor, *, logits: bool = False, rows: int = 1) -> torch.Tensor | None:
        """Text (ids ``(L,)`` or embeddings ``(L, H)``), kept whole in the cache; the logits of
        its last row (or last ``rows`` rows) when asked."""
        if len(self.pending):
            self.end_video()
        x = self.lm.embed(ids_or_embeds) if ids_or_embeds.dtype == torch.long else ids_or_embeds
        return self.lm.forward(x, None, self.cache, logits=logits, rows=rows)

    def add_video(self, tokens: torch.Tensor, frames: torch.Tensor, times: torch.Tensor, cells: torch.Tensor) -> None:
        """Visual tokens ``(N, H)`` with each token's frame index, time and cell; full windows run now."""
        p = self.pending
        p.tokens.append(tokens)
        p.frames.append(frames.long())
        p.times.append(times.double())
        p.cells.append(cells.long())
        while len(p) >= self.window:
            self._run_window(*p.take(self.window))

    def end_video(self) -> None:
        """Run the last, shorter window (the video's end is the original's ``beacon_skip_last``)."""
        if len(self.pending):
            self._run_window(*self.pending.take(len(self.pending)))

    def _run_window(self, tok, frames, times, cells) -> None:
        n, r = int(tok.shape[0]), self.ratio
        layout = beacon_layout(n, r)
        x = torch.empty(layout.numel(), tok.shape[1], dtype=tok.dtype, device=tok.device)
        x[~layout] = tok[: int((~layout).sum())]
        nb = int(layout.sum())
        if nb:
            x[layout] = self.lm.beacon_embedding(nb).to(device=tok.device, dtype=tok.dtype)
        kept = n if r == 1 else nb * r
        if kept < n:
            self.dropped += n - kept
            logger.info("the final window's last %d raw tokens follow no beacon and are dropped", n - kept)
        keep = None if r == 1 else layout
        self.lm.forward(x, layout if nb else None, self.cache, keep=keep)
        self.peak_bytes = max(self.peak_bytes, self.cache.nbytes())
        for j in range(nb if r > 1 else n):  # ratio 1: every raw token is its own summary
            a, b = j * r, (j + 1) * r - 1
            self.spans.append(BeaconSpan(self.windows, int(frames[a]), int(frames[b]), float(times[a]),
                                         float(times[b]), int(cells[a]), int(cells[b]), r))
        self.windows += 1
        self.raw_tokens += n
