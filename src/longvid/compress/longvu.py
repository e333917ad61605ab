"""LongVU's spatiotemporal adaptive compression, streaming, with each stage usable alone.

Design decisions:
- One implementation, ``LongVUStream``, consumes frames in any chunking (windows from an encoder
  running over a long video) and keeps only what can still be needed: frames surviving temporal
  reduction, at low resolution, plus their high-resolution tokens only while the budget can
  still hold low-resolution tokens for every survivor (after that no frame can be upgraded and
  STC runs on low-resolution frames). ``LongVU.__call__`` runs the same stream over an in-memory
  tensor, so streaming and batch results are identical.
- Windows: the stream pushes each chunk into a ``TemporalReducer``, each frame with a ``Row``
  payload (its chunk, its row), and works on the settled frames it hands back, gathered chunk by
  chunk (no copy when a whole chunk survives); it keeps no window buffer of its own.
- Memory: one window of 16 frames, the survivors at low resolution (64 x D each), and at most
  ``budget / low`` frames at high resolution. Before the ``T >= budget // 64`` condition is
  decided (unknown total while streaming) settled frames are held at high resolution; that is at
  most ``budget // 64`` frames. No T x T similarity is ever formed.
- Stage order and choices (docs/compression.md): temporal reduction (with the 400-frame guard)
  -> all frames high if they fit -> else mixed resolution if every frame fits at low -> else STC
  on the low-resolution frames with the chunk-drop / truncation fallbacks. STC runs on the input
  grid when the mixed-resolution stage is disabled.
- One low grid: ``mixed_resolution.low_grid`` (8x8 by default, or ``lowres_token`` x
  ``lowres_token`` from a checkpoint) also gives the temporal condition its divisor, so the two
  cannot disagree; an explicit contradicting option raises.
- Variants (registered): ``longvu_temporal`` (stage 1 alone), ``longvu_mixed_resolution``
  (stage 2 alone), ``longvu_stc`` (stage 3 alone). A variant without STC that cannot fit subsamples
  frames uniformly (noted in the stats): still within the budget, never silently.
- Temporal reduction may score other features than the tokens (DINOv2 vs SigLIP): pass
  ``temporal_features`` (one row per frame); by default the tokens themselves are scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import torch

from longvid.compress.base import (
    Compressor,
    Grid,
    Query,
    TokenCount,
    assemble,
    check_budget,
    check_features,
    check_output,
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
from longvid.compress.temporal import (
    Row,
    Settled,
    TemporalConfig,
    TemporalReducer,
    by_batch,
    guard_positions,
    rows_of,
)
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)


_DEFAULT_MIXED = MixedResolutionConfig()  # the default object, told apart from an explicit one by identity


@register_compressor("longvu")
@dataclass(frozen=True)
class LongVU(Compressor):
    """LongVU's three training-free stages; set a stage's config to None to disable it."""

    name = "longvu"
    adaptive = True  # its own stages and fallbacks fit any budget
    temporal: TemporalConfig | None = TemporalConfig()  # stage 1 (None: keep every frame)
    mixed_resolution: MixedResolutionConfig | None = _DEFAULT_MIXED  # stage 2 (None: input grid only)
    stc: STCConfig | None = STCConfig()  # stage 3 (None: subsample frames when over budget)
    chunk_frames: int = 256  # frames pushed at once by __call__ (bounds the float32 working copy)
    # A checkpoint's "lowres_token": the low grid is lowres_token x lowres_token (None: the
    # MixedResolutionConfig default). Shorthand for mixed_resolution=MixedResolutionConfig.square(n).
    lowres_token: int | None = None

    def __post_init__(self) -> None:
        mixed, ls = self.mixed_resolution, self.lowres_token
        if ls is not None:
            square = MixedResolutionConfig.square(ls)  # validates
            if mixed is None and self.temporal is None:
                raise InvalidFeaturesError(
                    f"{self.name}: lowres_token={ls} has no effect with both the temporal and the "
                    "mixed-resolution stage disabled; drop it")
            if mixed is not None and mixed is not _DEFAULT_MIXED and mixed.low_grid != square.low_grid:
                raise InvalidFeaturesError(
                    f"{self.name}: lowres_token={ls} contradicts mixed_resolution.low_grid={mixed.low_grid}; "
                    "give one of them")
        t = self.temporal
        if t is not None and t.budget_divisor is not None and t.budget_divisor != self.low_tokens \
                and (mixed is not None or ls is not None):
            raise InvalidFeaturesError(
                f"{self.name}: temporal.budget_divisor={t.budget_divisor} contradicts the low grid's "
                f"{self.low_tokens} tokens per frame; leave budget_divisor unset (it follows the low grid)")

    @property
    def mixed(self) -> MixedResolutionConfig | None:
        """The mixed-resolution stage as it runs: ``mixed_resolution``, on ``lowres_token``'s grid when given."""
        if self.mixed_resolution is None or self.lowres_token is None:
            return self.mixed_resolution
        return MixedResolutionConfig.square(self.lowres_token)

    @property
    def low_tokens(self) -> int:
        """Tokens of a low-resolution frame as configured (before clamping to a small input grid):
        the divisor of the temporal condition ``T >= budget // low_tokens``."""
        if self.lowres_token is not None:
            return self.lowres_token ** 2
        return (self.mixed_resolution or MixedResolutionConfig()).low_tokens

    def _temporal_applies(self, num_frames: int, budget: int | None) -> bool:
        return self.temporal is not None and self.temporal.applies(num_frames, budget, low_tokens=self.low_tokens)

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
        check_output(self, out, budget)
        return out

    def plan_notes(self, *, num_frames: int, grid: Grid, budget: int) -> list[str]:
        t = self.temporal
        if t is None:
            return []
        on, div = self._temporal_applies(num_frames, budget), t.divisor(self.low_tokens)
        return [f"temporal reduction: {'on' if on else 'off'} ({num_frames} frames "
                f"{'>=' if on else '<'} budget // {div} = {budget // div})"
                + (f"; at most {min(num_frames, t.max_frames or num_frames)} frames survive" if on else "")]

    # ------------------------------------------------------------------ token-count math
    def _low_tokens(self, grid: Grid) -> int:
        g = self.mixed.low_for(grid) if self.mixed else grid
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
        if not self._temporal_applies(num_frames, budget):
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
        return not self._temporal_applies(num_frames, budget)


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


@dataclass(frozen=True)
class _Survivors:
    """Frames that survived temporal reduction, in time order, with what later stages need."""

    frame_indices: torch.Tensor  # (k,) int64, CPU
    timestamps_s: torch.Tensor  # (k,) float64, CPU
    high: torch.Tensor | None  # (k, n, D) input-grid tokens; None once no frame can be upgraded
    low: torch.Tensor | None  # (k, n_low, D) low-resolution tokens; None without stage 2
    relevance: torch.Tensor | None  # (k,) float32 query relevance; None without stage 2 or a query

    def __len__(self) -> int:
        return int(self.frame_indices.numel())

    @staticmethod
    def cat(parts: Sequence[_Survivors]) -> _Survivors:
        def cat(key: str) -> torch.Tensor | None:
            vals = [getattr(p, key) for p in parts]
            return None if vals[0] is None else torch.cat(vals)

        return _Survivors(cat("frame_indices"), cat("timestamps_s"), cat("high"), cat("low"), cat("relevance"))

    def select(self, pos: torch.Tensor) -> _Survivors:
        """The survivors at ``pos`` (CPU int64 positions)."""

        def take(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x[pos.to(x.device)]

        return _Survivors(self.frame_indices[pos], self.timestamps_s[pos], take(self.high), take(self.low),
                          take(self.relevance))

    def token_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.high, self.low) if t is not None)


class LongVUStream:
    """Incremental LongVU: ``push`` chunks of frames, ``finish`` once for the tokens."""

    def __init__(self, comp: LongVU, *, budget: int, grid: Grid, query: Query | None,
                 num_frames: int | None = None, fit: bool = True) -> None:
        self.c = comp
        self.fit = fit  # False: an intermediate pipeline stage, which keeps every survivor
        self.budget = budget
        self.grid = tuple(grid)
        if comp.lowres_token is not None and comp.lowres_token > min(self.grid):
            raise InvalidFeaturesError(
                f"{comp.name}: lowres_token={comp.lowres_token} exceeds the {grid[0]}x{grid[1]} input grid, so "
                "low resolution would not be lower; check the checkpoint's lowres_token against its token grid")
        self.nh = grid[0] * grid[1]
        self.mixed = comp.mixed
        self.low_grid = self.mixed.low_for(self.grid) if self.mixed else self.grid
        self.nl = self.low_grid[0] * self.low_grid[1]
        self.query = query
        self.qvec: torch.Tensor | None = None
        self.seen = 0
        self.seconds = {"temporal": 0.0, "mixed_resolution": 0.0, "stc": 0.0}
        t = comp.temporal
        # None: not decided yet (streaming, total unknown and still below budget // divisor)
        self.reduce: bool | None = False if t is None else (comp._temporal_applies(num_frames, budget)
                                                             if num_frames else None)
        self._reducer: TemporalReducer[Row[FrameFeatures]] | None = (
            TemporalReducer(t) if self.reduce is not False else None)
        self._pushes = 0
        self._undecided: list[Settled[Row[FrameFeatures]]] = []  # settled before the reduce decision
        self._surv: list[_Survivors] = []
        self._n_surv = 0
        self._keep_high = True
        self._dtype = self._device = None
        self._frame_bytes = 0

    # ------------------------------------------------------------------ intake
    def push(self, feats: FrameFeatures, temporal: torch.Tensor | None = None) -> None:
        if tuple(feats.grid) != self.grid:
            raise InvalidFeaturesError(f"chunk grid {feats.grid} differs from the stream's {self.grid}")
        if temporal is not None and temporal.shape[0] != len(feats):
            raise InvalidFeaturesError(
                f"temporal features have {temporal.shape[0]} rows for {len(feats)} frames; align them")
        if len(feats) == 0:
            return
        x = feats.features
        if self._dtype is None:
            self._dtype, self._device = x.dtype, x.device
            self.qvec = query_vector(self.query, self._device)
            self._frame_bytes = x[0].numel() * x.element_size()
        self.seen += len(feats)
        if self.reduce is None and self.c._temporal_applies(self.seen, self.budget):
            self.reduce = True  # enough frames seen: the T >= budget // divisor condition holds
        if self._reducer is None:  # every frame is kept: no window to wait for
            self._add_survivors(feats)
            return
        t0 = time.perf_counter()
        settled = self._reducer.push(x.reshape(len(feats), -1) if temporal is None
                                     else temporal.reshape(len(feats), -1), rows_of(self._pushes, feats, len(feats)))
        self._pushes += 1
        self.seconds["temporal"] += time.perf_counter() - t0
        self._settle(settled)

    def _settle(self, settled: list[Settled[Row[FrameFeatures]]]) -> None:
        """Frames whose window closed: add the kept ones, or hold them until the decision is made."""
        if self.reduce is None:
            self._undecided.extend(settled)
            return
        if self._undecided:
            settled, self._undecided = self._undecided + settled, []
        for chunk, rows in by_batch(s.payload for s in settled if s.kept or not self.reduce):
            if len(rows) == len(chunk):  # the whole chunk survives: no copy
                self._add_survivors(chunk)
            else:
                sel = torch.tensor(rows, dtype=torch.long)
                self._add_survivors(FrameFeatures(chunk.features[sel.to(chunk.features.device)], chunk.grid,
                                                  chunk.timestamps_s[sel.to(chunk.timestamps_s.device)],
                                                  chunk.frame_indices[sel.to(chunk.frame_indices.device)]))

    def _add_survivors(self, ff: FrameFeatures) -> None:
        x = ff.features
        low = rel = None
        if self.mixed is not None:
            t0 = time.perf_counter()
            low_f = resize_grid(x.float(), self.grid, self.low_grid, mode="bilinear")
            low = low_f.to(x.dtype)
            if self.qvec is not None:
                rel = frame_relevance(low_f, self.qvec).cpu()
            self.seconds["mixed_resolution"] += time.perf_counter() - t0
        high = x if self._keep_high else None  # once released, never held again
        self._surv.append(_Survivors(ff.frame_indices.to("cpu"), ff.timestamps_s.to("cpu"), high, low, rel))
        self._n_surv += len(ff)
        self._update_keep_high()

    def _update_keep_high(self) -> None:
        """Drop high-resolution tokens once no survivor can ever be shown at high resolution."""
        if not self._keep_high or self.mixed is None or self.c.stc is None:
            return
        guard = self.c.temporal.max_frames if (self.c.temporal and self.reduce) else None
        n = min(self._n_surv, guard) if guard else self._n_surv
        if n * self.nl > self.budget:
            self._keep_high = False
            self._surv = [replace(r, high=None) for r in self._surv]
            logger.debug("longvu: %d survivors cannot all fit at low resolution; high-res tokens released", n)

    def held_bytes(self) -> int:
        """Bytes of token tensors the stream holds now (frames awaiting their window, and survivors)."""
        waiting = (self._reducer.pending if self._reducer is not None else 0) + len(self._undecided)
        return waiting * self._frame_bytes + sum(r.token_bytes() for r in self._surv)

    # ------------------------------------------------------------------ output
    def finish(self) -> VisualTokens:
        if self.seen == 0:
            raise InvalidFeaturesError("no frames were pushed; nothing to compress")
        if self.reduce is None:  # the whole stream stayed below budget // divisor: LongVU keeps every frame
            self.reduce = False
        if self._reducer is not None:
            t0 = time.perf_counter()
            last = self._reducer.finish()
            self.seconds["temporal"] += time.perf_counter() - t0
            self._settle(last)
        stats: list[StageStats] = []
        t_in = self.seen
        surv = _Survivors.cat(self._surv)
        self._surv = []
        if self.c.temporal is not None:
            note = "" if self.reduce else \
                f"not applied: {t_in} frames < budget // {self.c.temporal.divisor(self.c.low_tokens)}"
            guard = self.c.temporal.max_frames
            n_s = len(surv)
            if self.reduce and guard is not None and n_s > guard:
                surv = surv.select(guard_positions(n_s, guard, self.c.temporal.guard_pick))
                note = f"{n_s} survivors subsampled uniformly to the {guard}-frame guard"
            stats.append(StageStats("temporal", t_in, len(surv), t_in * self.nh, len(surv) * self.nh,
                                    self.seconds["temporal"], note))
        return self._emit(surv, stats)

    def _emit(self, surv: _Survivors, stats: list[StageStats]) -> VisualTokens:
        n = len(surv)
        nh, nl, budget = self.nh, self.nl, self.budget
        mixed = self.mixed is not None
        mode, k = resolution_plan(n, nh, nl, budget)
        if not self.fit:
            mode = "high"
        if mode == "over" and self.c.stc is not None:
            return self._emit_stc(surv, surv.low if mixed else surv.high, stats)
        t0 = time.perf_counter()
        if mode == "over" or (mode == "mixed" and not mixed):
            per = nl if mixed else nh
            kf = budget // per
            need_frames(kf, budget=budget, per_frame=per, what=self.c.name)
            note = f"uniformly subsampled {n} -> {kf} frames to fit {budget} tokens"
            logger.info("%s: %s", self.c.name, note)
            stats.append(StageStats("subsample", n, kf, n * per, kf * per, 0.0, note))
            surv = surv.select(uniform_positions(n, kf))
            n = kf
            mode, k = resolution_plan(n, nh, nl, budget)
        high, low, rel = surv.high, surv.low, surv.relevance
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
            return self._assemble(surv, *parts, stats=stats)
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
        return self._assemble(surv, [tok[order.to(tok.device)]], [pos[order]], [cells[order]],
                              [grids[order]], stats=stats)

    def _emit_stc(self, surv: _Survivors, x: torch.Tensor, stats: list[StageStats]) -> VisualTokens:
        t0 = time.perf_counter()
        n, per, _ = x.shape
        g = self.low_grid if self.mixed is not None else self.grid
        if self.mixed is not None:
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
        return self._assemble(surv, [tok], [pos], [cells], [torch.tensor(g).expand(flat.numel(), 2)], stats=stats)

    def _assemble(self, surv: _Survivors, tokens, pos, cells, grids, *, stats) -> VisualTokens:
        """``assemble`` reads provenance (frame indices, timestamps) from the survivors."""
        d = tokens[0].shape[-1]
        return assemble(tokens, surv, pos, cells, grids, stats, d=d, dtype=self._dtype, device=self._device)
