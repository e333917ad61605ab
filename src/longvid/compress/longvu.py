"""LongVU's spatiotemporal adaptive compression, streaming, with each stage usable alone.

Design decisions:
- One implementation, ``LongVUStream``, consumes frames in any chunking (windows from an encoder
  running over a long video) and keeps only what can still be needed: frames surviving temporal
  reduction, at low resolution, plus their high-resolution tokens only while the budget can
  still hold low-resolution tokens for every survivor (after that no frame can be upgraded and
  STC runs on low-resolution frames). ``LongVU.__call__`` runs the same stream over an in-memory
  tensor, so streaming and batch results are identical.
- Memory: one window of 16 frames, the survivors at low resolution (64 x D each), and at most
  ``budget / low`` frames at high resolution. Before the ``T >= budget // 64`` condition is
  decided (unknown total while streaming) frames are held at high resolution; that is at most
  ``budget // 64`` frames. No T x T similarity is ever formed.
- Stage order and choices (ALGORITHMS.md): temporal reduction (with the 400-frame guard) ->
  all frames high if they fit -> else mixed resolution if every frame fits at low -> else STC on
  the low-resolution frames with the chunk-drop / truncation fallbacks. STC runs on the input
  grid when the mixed-resolution stage is disabled.
- Variants (registered): ``longvu_temporal`` (stage 1 alone), ``longvu_mixed_resolution``
  (stage 2 alone), ``longvu_stc`` (stage 3 alone). A variant without STC that cannot fit subsamples
  frames uniformly (noted in the stats): still within the budget, never silently.
- Temporal reduction may score other features than the tokens (DINOv2 vs SigLIP): pass
  ``temporal_features`` (one row per frame); by default the tokens themselves are scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from longvid.compress.base import (
    Compressor,
    Grid,
    Query,
    TokenCount,
    assemble,
    check_budget,
    check_features,
    check_query,
    need_frames,
    query_vector,
    register_compressor,
    resize_grid,
    uniform_positions,
)
from longvid.compress.mixed_resolution import (
    MixedResolutionConfig,
    choose_upgrades,
    frame_relevance,
    resolution_plan,
)
from longvid.compress.stc import STCConfig, fit_mask, stc_keep_mask
from longvid.compress.temporal import TemporalConfig, batched_window_scores, window_scores
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Provenance:
    frame_indices: torch.Tensor
    timestamps_s: torch.Tensor


@register_compressor("longvu")
@dataclass(frozen=True)
class LongVU(Compressor):
    """LongVU's three training-free stages; set a stage's config to None to disable it."""

    name = "longvu"
    temporal: TemporalConfig | None = TemporalConfig()  # stage 1 (None: keep every frame)
    mixed_resolution: MixedResolutionConfig | None = MixedResolutionConfig()  # stage 2 (None: input grid only)
    stc: STCConfig | None = STCConfig()  # stage 3 (None: subsample frames when over budget)
    chunk_frames: int = 256  # frames pushed at once by __call__ (bounds the float32 working copy)

    def compress(self, features: FrameFeatures, *, budget: int, query: Query | None,
                 temporal_features: torch.Tensor | None, fit: bool = True) -> VisualTokens:
        if not fit and self.output_layout(num_frames=1, grid=features.grid) is None:
            raise InvalidFeaturesError(f"{self.name} must fit its budget: it cannot be an intermediate stage")
        s = LongVUStream(self, budget=budget, grid=features.grid, query=query, num_frames=len(features), fit=fit)
        step = max(1, self.chunk_frames)
        for i in range(0, len(features), step):
            sl = slice(i, i + step)
            chunk = FrameFeatures(features.features[sl], features.grid, features.timestamps_s[sl],
                                  features.frame_indices[sl])
            s.push(chunk, None if temporal_features is None else temporal_features[sl])
        return s.finish()

    def stream(self, chunks: Iterable[FrameFeatures | tuple[FrameFeatures, torch.Tensor]], *, budget: int,
               query: Query | None = None, num_frames: int | None = None) -> VisualTokens:
        """Compress frames arriving as chunks (``FrameFeatures``, or pairs with temporal features)."""
        check_budget(budget)
        s: LongVUStream | None = None
        for item in chunks:
            feats, tf = item if isinstance(item, tuple) else (item, None)
            if s is None:
                check_features(feats)
                if query is not None and query.embedding is not None:
                    check_query(query, feats)
                s = LongVUStream(self, budget=budget, grid=feats.grid, query=query, num_frames=num_frames)
            s.push(feats, tf)
        if s is None:
            raise InvalidFeaturesError("the stream held no frames; the video sampling returned nothing")
        out = s.finish()
        assert len(out) <= budget, (len(out), budget)
        return out

    # ------------------------------------------------------------------ token-count math
    def _low_tokens(self, grid: Grid) -> int:
        g = self.mixed_resolution.low_for(grid) if self.mixed_resolution else grid
        return g[0] * g[1]

    def _count_for(self, n: int, grid: Grid, budget: int) -> TokenCount:
        """Tokens for ``n`` frames entering stage 2 (deterministic frame count)."""
        nh, nl = grid[0] * grid[1], self._low_tokens(grid)
        mode, k = resolution_plan(n, nh, nl, budget)
        if mode == "high":
            return TokenCount(n * nh, True)
        if self.mixed_resolution is not None and mode == "mixed":
            return TokenCount(n * nl + k * (nh - nl), True)
        if self.stc is not None:
            return TokenCount(min(budget, n * (nl if self.mixed_resolution else nh)), False)
        per = nl if self.mixed_resolution else nh
        return self._count_for(min(n, budget // per), grid, budget)

    def min_budget(self, grid: Grid) -> int:
        if self.stc is not None:
            return 1
        return self._low_tokens(tuple(grid))

    def _token_count(self, *, num_frames: int, grid: Grid, budget: int) -> TokenCount:
        """Exact without temporal reduction (and outside STC); otherwise an upper bound."""
        if self.temporal is None or not self.temporal.applies(num_frames, budget):
            return self._count_for(num_frames, grid, budget)
        g = self.temporal.max_frames or num_frames
        n_max = min(num_frames, g)
        return TokenCount(min(budget, n_max * grid[0] * grid[1]), False)

    def output_layout(self, *, num_frames: int, grid: Grid) -> tuple[int, Grid] | None:
        """Only the temporal stage alone keeps full grids: at most the guard's frame count."""
        if self.mixed_resolution is not None or self.stc is not None:
            return None
        guard = self.temporal.max_frames if self.temporal is not None else None
        return min(num_frames, guard or num_frames), grid

    def intermediate_exact(self, *, num_frames: int, grid: Grid, budget: int) -> bool:
        return self.temporal is None or not self.temporal.applies(num_frames, budget)


@register_compressor("longvu_temporal")
@dataclass(frozen=True)
class LongVUTemporal(LongVU):
    """Stage 1 alone: drop near-duplicate frames, keep the rest at full resolution."""

    name = "longvu_temporal"
    mixed_resolution: MixedResolutionConfig | None = None
    stc: STCConfig | None = None


@register_compressor("longvu_mixed_resolution")
@dataclass(frozen=True)
class LongVUMixedResolution(LongVU):
    """Stage 2 alone: all frames low resolution, the query's top frames high."""

    name = "longvu_mixed_resolution"
    temporal: TemporalConfig | None = None
    stc: STCConfig | None = None


@register_compressor("longvu_stc")
@dataclass(frozen=True)
class LongVUSTC(LongVU):
    """Stage 3 alone: prune tokens that repeat the chunk's first frame, then the budget fallbacks."""

    name = "longvu_stc"
    temporal: TemporalConfig | None = None
    mixed_resolution: MixedResolutionConfig | None = None


class LongVUStream:
    """Incremental LongVU: ``push`` chunks of frames, ``finish`` once for the tokens."""

    def __init__(self, comp: LongVU, *, budget: int, grid: Grid, query: Query | None,
                 num_frames: int | None = None, fit: bool = True) -> None:
        self.c = comp
        self.fit = fit  # False: an intermediate pipeline stage, which keeps every survivor
        self.budget = budget
        self.grid = tuple(grid)
        self.nh = grid[0] * grid[1]
        self.low_grid = comp.mixed_resolution.low_for(grid) if comp.mixed_resolution else self.grid
        self.nl = self.low_grid[0] * self.low_grid[1]
        self.query = query
        self.qvec: torch.Tensor | None = None
        self.seen = 0
        self.seconds = {"temporal": 0.0, "mixed_resolution": 0.0, "stc": 0.0}
        t = comp.temporal
        # None: not decided yet (streaming, total unknown and still below budget // 64)
        self.reduce: bool | None = False if t is None else (t.applies(num_frames, budget) if num_frames else None)
        self._pending: list[tuple[FrameFeatures, torch.Tensor | None]] = []  # frames not yet windowed
        self._pending_n = 0
        self._surv: list[dict[str, torch.Tensor | None]] = []
        self._n_surv = 0
        self._keep_high = True
        self._dtype = self._device = None

    # ------------------------------------------------------------------ intake
    def push(self, feats: FrameFeatures, temporal: torch.Tensor | None = None) -> None:
        if tuple(feats.grid) != self.grid:
            raise InvalidFeaturesError(f"chunk grid {feats.grid} differs from the stream's {self.grid}")
        if temporal is not None and temporal.shape[0] != len(feats):
            raise InvalidFeaturesError(
                f"temporal features have {temporal.shape[0]} rows for {len(feats)} frames; align them")
        if self._dtype is None:
            self._dtype, self._device = feats.features.dtype, feats.features.device
            self.qvec = query_vector(self.query, self._device)
        self.seen += len(feats)
        self._pending.append((feats, None if temporal is None else temporal.reshape(len(feats), -1)))
        self._pending_n += len(feats)
        if self.reduce is None and self.c.temporal.applies(self.seen, self.budget):
            self.reduce = True  # enough frames seen: the T >= budget // 64 condition holds
        if self.reduce is False:
            self._flush_all(score=False)
        elif self.reduce:
            self._flush_windows()

    def _take(self, n: int) -> tuple[FrameFeatures, torch.Tensor]:
        """Pop the first ``n`` pending frames (features and their temporal rows)."""
        feats, tfs, got = [], [], 0
        while got < n:
            f, tf = self._pending[0]
            need = n - got
            if len(f) <= need:
                self._pending.pop(0)
            else:
                rest = FrameFeatures(f.features[need:], f.grid, f.timestamps_s[need:], f.frame_indices[need:])
                self._pending[0] = (rest, None if tf is None else tf[need:])
                f = FrameFeatures(f.features[:need], f.grid, f.timestamps_s[:need], f.frame_indices[:need])
                tf = None if tf is None else tf[:need]
            feats.append(f)
            tfs.append(f.features.reshape(len(f), -1) if tf is None else tf)
            got += len(f)
        self._pending_n -= n
        x = torch.cat([f.features for f in feats]) if len(feats) > 1 else feats[0].features
        ff = FrameFeatures(x, self.grid, torch.cat([f.timestamps_s for f in feats]),
                           torch.cat([f.frame_indices for f in feats]))
        return ff, (torch.cat(tfs) if len(tfs) > 1 else tfs[0])

    def _flush_windows(self) -> None:
        w = self.c.temporal.window_frames
        n = self._pending_n // w * w
        if n:
            ff, tf = self._take(n)
            t0 = time.perf_counter()
            s = batched_window_scores(tf, w, keep_middle=self.c.temporal.keep_middle)
            keep = torch.nonzero(s < self.c.temporal.threshold).flatten()
            self.seconds["temporal"] += time.perf_counter() - t0
            self._add_survivors(ff, keep)

    def _flush_all(self, *, score: bool) -> None:
        if not self._pending_n:
            return
        ff, tf = self._take(self._pending_n)
        if score:
            t0 = time.perf_counter()
            s = window_scores(tf, keep_middle=self.c.temporal.keep_middle)
            keep = torch.nonzero(s < self.c.temporal.threshold).flatten()
            self.seconds["temporal"] += time.perf_counter() - t0
        else:
            keep = torch.arange(len(ff), device=ff.features.device)
        self._add_survivors(ff, keep)

    def _add_survivors(self, ff: FrameFeatures, keep: torch.Tensor) -> None:
        if keep.numel() == 0:
            return
        x = ff.features if keep.numel() == len(ff) else ff.features[keep.to(ff.features.device)]
        rec: dict[str, torch.Tensor | None] = {
            "fi": ff.frame_indices.to("cpu")[keep.cpu()],
            "ts": ff.timestamps_s.to("cpu")[keep.cpu()],
            "high": x if self._keep_high else None,  # once released, never held again
            "low": None,
            "rel": None,
        }
        if self.c.mixed_resolution is not None:
            t0 = time.perf_counter()
            low = resize_grid(x.float(), self.grid, self.low_grid, mode="bilinear")
            rec["low"] = low.to(x.dtype)
            if self.qvec is not None:
                rec["rel"] = frame_relevance(low, self.qvec).cpu()
            self.seconds["mixed_resolution"] += time.perf_counter() - t0
        self._surv.append(rec)
        self._n_surv += keep.numel()
        self._update_keep_high()

    def _update_keep_high(self) -> None:
        """Drop high-resolution tokens once no survivor can ever be shown at high resolution."""
        if not self._keep_high or self.c.mixed_resolution is None or self.c.stc is None:
            return
        guard = self.c.temporal.max_frames if (self.c.temporal and self.reduce) else None
        n = min(self._n_surv, guard) if guard else self._n_surv
        if n * self.nl > self.budget:
            self._keep_high = False
            for r in self._surv:
                r["high"] = None
            logger.debug("longvu: %d survivors cannot all fit at low resolution; high-res tokens released", n)

    def held_bytes(self) -> int:
        """Bytes of token tensors the stream holds now (pending frames and survivors)."""
        n = sum(f.features.numel() * f.features.element_size() for f, _ in self._pending)
        for r in self._surv:
            n += sum(t.numel() * t.element_size() for k, t in r.items() if k in ("high", "low") and t is not None)
        return n

    # ------------------------------------------------------------------ output
    def finish(self) -> VisualTokens:
        if self.seen == 0:
            raise InvalidFeaturesError("no frames were pushed; nothing to compress")
        if self.reduce is None:  # the whole stream stayed below budget // 64: LongVU keeps every frame
            self.reduce = False
        self._flush_all(score=bool(self.reduce))
        stats: list[StageStats] = []
        t_in = self.seen
        if self.c.temporal is not None:
            note = "" if self.reduce else f"not applied: {t_in} frames < budget // {self.c.temporal.budget_divisor}"
            guard = self.c.temporal.max_frames
            n_s = self._n_surv
            sel = None
            if self.reduce and guard is not None and n_s > guard:
                sel = uniform_positions(n_s, guard)
                note = f"{n_s} survivors subsampled uniformly to the {guard}-frame guard"
            n_out = n_s if sel is None else guard
            stats.append(StageStats("temporal", t_in, n_out, t_in * self.nh, n_out * self.nh,
                                    self.seconds["temporal"], note))
        else:
            sel = None
        cat = lambda key: torch.cat([r[key] for r in self._surv])  # noqa: E731
        fi, ts = cat("fi"), cat("ts")
        high = cat("high") if self._keep_high else None
        low = cat("low") if self.c.mixed_resolution is not None else None
        rel = cat("rel") if (self.c.mixed_resolution is not None and self.qvec is not None) else None
        if sel is not None:
            fi, ts = fi[sel], ts[sel]
            high = None if high is None else high[sel.to(high.device)]
            low = None if low is None else low[sel.to(low.device)]
            rel = None if rel is None else rel[sel]
        self._surv = []
        return self._emit(_Provenance(fi, ts), high, low, rel, stats)

    def _emit(self, prov: _Provenance, high: torch.Tensor | None, low: torch.Tensor | None,
              rel: torch.Tensor | None, stats: list[StageStats]) -> VisualTokens:
        n = prov.frame_indices.numel()
        nh, nl, budget = self.nh, self.nl, self.budget
        mixed = self.c.mixed_resolution is not None
        mode, k = resolution_plan(n, nh, nl, budget)
        if not self.fit:
            mode = "high"
        if mode == "over" and self.c.stc is not None:
            return self._emit_stc(prov, low if mixed else high, stats)
        t0 = time.perf_counter()
        if mode == "over" or (mode == "mixed" and not mixed):
            per = nl if mixed else nh
            kf = budget // per
            need_frames(kf, budget=budget, per_frame=per, what=self.c.name)
            pos = uniform_positions(n, kf)
            note = f"uniformly subsampled {n} -> {kf} frames to fit {budget} tokens"
            logger.info("%s: %s", self.c.name, note)
            stats.append(StageStats("subsample", n, kf, n * per, kf * per, 0.0, note))
            prov = _Provenance(prov.frame_indices[pos], prov.timestamps_s[pos])
            high = None if high is None else high[pos.to(high.device)]
            low = None if low is None else low[pos.to(low.device)]
            rel = None if rel is None else rel[pos]
            n = kf
            mode, k = resolution_plan(n, nh, nl, budget)
        if mode == "high" or not mixed:
            assert high is not None
            out_pos = torch.arange(n)
            parts = ([high.reshape(-1, high.shape[-1])], [out_pos.repeat_interleave(nh)],
                     [torch.arange(nh).repeat(n)], [torch.tensor(self.grid).expand(n * nh, 2)])
            if mixed:
                stats.append(StageStats("mixed_resolution", n, n, n * nh, n * nh, time.perf_counter() - t0,
                                        "every frame fits at high resolution"))
            if self.c.stc is not None:
                stats.append(StageStats("stc", n, n, n * nh, n * nh, 0.0, "not applied: every frame fits"))
            return self._assemble(prov, *parts, stats=stats)
        assert low is not None and high is not None, "high-res tokens are kept while stage 2 can use them"
        up = choose_upgrades(rel, n, k)
        is_up = torch.zeros(n, dtype=torch.bool)
        is_up[up] = True
        lo = torch.nonzero(~is_up).flatten()
        d = low.shape[-1]
        tok = torch.cat([high[up.to(high.device)].reshape(-1, d),
                         low[lo.to(low.device)].reshape(-1, d)])
        pos = torch.cat([up.repeat_interleave(nh), lo.repeat_interleave(nl)])
        cells = torch.cat([torch.arange(nh).repeat(up.numel()), torch.arange(nl).repeat(lo.numel())])
        grids = torch.cat([torch.tensor(self.grid).expand(up.numel() * nh, 2),
                           torch.tensor(self.low_grid).expand(lo.numel() * nl, 2)])
        order = torch.argsort(pos, stable=True)  # time order, cells in order within each frame
        note = f"{up.numel()} of {n} frames at high resolution" + ("" if rel is not None else
                                                                   " (no query embedding: evenly spread)")
        stats.append(StageStats("mixed_resolution", n, n, n * nh, int(pos.numel()),
                                time.perf_counter() - t0 + self.seconds["mixed_resolution"], note))
        return self._assemble(prov, [tok[order.to(tok.device)]], [pos[order]], [cells[order]],
                              [grids[order]], stats=stats)

    def _emit_stc(self, prov: _Provenance, x: torch.Tensor, stats: list[StageStats]) -> VisualTokens:
        t0 = time.perf_counter()
        n, per, _ = x.shape
        g = self.low_grid if self.c.mixed_resolution is not None else self.grid
        if self.c.mixed_resolution is not None:
            stats.append(StageStats("mixed_resolution", n, n, n * self.nh, n * per,
                                    self.seconds["mixed_resolution"], "too many frames: all at low resolution"))
        mask = stc_keep_mask(x, self.c.stc)
        before = int(mask.sum())
        mask, note = fit_mask(mask, self.budget, self.c.stc.chunk_frames)
        flat = torch.nonzero(mask.reshape(-1).cpu()).flatten()
        pos, cells = flat // per, flat % per
        tok = x.reshape(n * per, -1)[flat.to(x.device)]
        kept_frames = int(torch.unique(pos).numel())
        note = f"similarity pruning kept {before} of {n * per} tokens" + (f"; {note}" if note else "")
        stats.append(StageStats("stc", n, kept_frames, n * per, int(flat.numel()), time.perf_counter() - t0, note))
        return self._assemble(prov, [tok], [pos], [cells], [torch.tensor(g).expand(flat.numel(), 2)], stats=stats)

    def _assemble(self, prov, tokens, pos, cells, grids, *, stats) -> VisualTokens:
        d = tokens[0].shape[-1]
        return assemble(tokens, prov, pos, cells, grids, stats, d=d, dtype=self._dtype, device=self._device)
