"""LongVU as a model: SigLIP + DINOv2 -> spatial aggregator -> MLP -> Qwen2 / Llama-3.2.

Design decisions:
- Frames stream through in batches. DINOv2 encodes every sampled frame; temporal reduction
  (windows of 16, threshold from the config) runs as frames arrive: each frame is pushed to the
  streaming ``TemporalReducer`` with its DINOv2 features and, as payload, what the aggregator
  will need if it is kept (:class:`SampledFrame`). When a window closes the reducer hands the
  frames back settled, and only the kept ones go through SigLIP and the aggregator. So memory
  holds one window of frames plus the aggregated 12x12 tokens of kept frames. The 400-frame
  guard applies at the end, as released.
- Aggregated tokens are projected into the LLM width; mixed resolution (low-resolution frames at
  the config's ``lowres_token`` side, 8x8 in the releases; the top-k by relevance to the LLM
  input embeddings of the text after ``<image>`` upgraded to 12x12) and spatial token
  compression are the ``longvu`` compressor of ``longvid.compress`` with temporal reduction
  switched off (already done here), built from the config (``default_compressor``). The
  compressor decides which tokens exist from a bilinear resize of *projected* tokens; their
  values are then replaced by the released model's (aggregated queries resized to the low grid
  *before* the projector), so the LLM sees exactly the released low-resolution tokens. Only the
  ranking and STC decisions use the approximation.
- By default (no compressor given) stages 2 and 3 run in the released layout
  (``longvid.models.longvu.released``): non-square frames unpadded (the frame size read as
  ``config.size_reading`` says, also for the aggregator's picture mask), newlines counted in the
  plan, STC over frames that hold their newline column, at high resolution when ``N > M // 64``.
- Frames are sampled padded to a square at their own resolution (``NATIVE_PAD_SIDE`` at most) and
  each tower resizes the square once, the released pad-then-resize order.
- A query grid other than the final one (``query_num_list`` vs ``image_token_len``) is resized to
  it before the projector (``final_queries``); low-resolution tokens come from the query grid. A compressor given explicitly
  runs longvid's layout: ``image_newline`` after every surviving row (``longvid.models.newline``).
- The towers load from their own folders or hub ids (the released checkpoints do not carry them;
  ``vision_towers`` maps a config name to a folder); if a checkpoint does carry tower weights
  under ``model.vision_tower_aux_list.{i}.vision_tower.``, those are used (``longvid.models.loader``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from longvid.compress.base import TokenCount
from longvid.encoders.preprocess import content_mask
from longvid.models.longvu.config import LongVUConfig
from longvid.models.longvu.modules import LongVUConnector
from longvid.models.video_llm import VideoLLM, video_progress
from longvid.types import FrameBatch, FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)

# Frames are padded to a square at their own resolution and each tower resizes the square to its
# input size, as the released code does (pad, then one bicubic resize per tower). Resizing first
# and padding after (one shared 384-px frame, then 384 -> 378 for DINOv2) was up to 62 pixel
# levels off at edges (docs/models.md). Frames whose long side exceeds this are first scaled to
# it while decoding, to bound the memory a temporal window holds (16 frames of 1920x1920 RGB:
# 177 MB); the towers then resize from there.
NATIVE_PAD_SIDE = 1920


@dataclass(frozen=True)
class SampledFrame:
    """A sampled frame waiting for its temporal window to close: what the aggregator needs if kept."""

    pixels: np.ndarray  # (H, W, 3) uint8, as sampled (padded to a square)
    timestamp_s: float  # its presentation time
    target_s: float  # the sample time asked for
    index: int  # its index in the sampled sequence
    temporal_features: torch.Tensor  # (g*g, D) the temporal tower's (DINOv2) features


@dataclass(frozen=True)
class LongVUFrames:
    """Kept frames as the LLM will see them at high resolution, plus what produced them."""

    features: FrameFeatures  # projected tokens on the final grid (T, 144, H) with provenance
    aggregated: torch.Tensor  # (T, q*q, vision_hidden) aggregator output on its query grid, before the projector
    stats: StageStats  # temporal reduction
    picture_wh: tuple[int, int] | None = None  # the picture's true (width, height), for unpadding


def _as_batch(frames: list[SampledFrame]) -> FrameBatch:
    return FrameBatch(np.stack([f.pixels for f in frames]), np.array([f.timestamp_s for f in frames]),
                      np.array([f.target_s for f in frames]), np.array([f.index for f in frames], dtype=np.int64))


@dataclass
class LongVUModel(VideoLLM):
    config: LongVUConfig
    connector: LongVUConnector
    # encoders: [SigLIP (tokens, context), ..., DINOv2 (temporal reduction)]

    family = "longvu"

    # ------------------------------------------------------------------ frames -> tokens
    @property
    def sampling_size(self) -> int:
        """The largest tower input (384): the side of a square small enough for every tower."""
        return max(e.input_size for e in self.encoders)

    @staticmethod
    def sampling_side(display_wh: tuple[int, int]) -> int | None:
        """The padded square's side to sample at: None (the frame's own resolution) up to
        ``NATIVE_PAD_SIDE``, else ``NATIVE_PAD_SIDE``; each tower resizes from it."""
        return None if max(display_wh) <= NATIVE_PAD_SIDE else NATIVE_PAD_SIDE

    @property
    def token_grid(self) -> tuple[int, int]:
        """The final grid (``image_token_len``); the query grid is resized to it when they differ."""
        fs = self.config.final_side
        return fs, fs

    def default_compressor(self):
        """The released pipeline's stages 2 and 3 with the config's low grid and STC threshold."""
        from longvid.compress import create_compressor
        from longvid.compress.mixed_resolution import MixedResolutionConfig
        from longvid.compress.stc import STCConfig

        cfg = self.config
        mixed = MixedResolutionConfig(low_grid=cfg.low_grid) if cfg.highres else None
        return create_compressor("longvu", temporal=None, stc=STCConfig(threshold=cfg.drop_threshold),
                                 mixed_resolution=mixed)

    def temporal_config(self):
        """Stage 1 as the config sets it: its threshold, and the divisor of the trigger
        ``T >= drop_budget // divisor``: the low grid's tokens (64 for the releases' 8x8) with
        ``highres``, else ``image_token_len`` (see :meth:`drop_budget`)."""
        from longvid.compress.temporal import TemporalConfig

        return TemporalConfig(threshold=self.config.dino_threshold, budget_divisor=self.config.drop_divisor)

    def drop_budget(self, budget: int) -> int:
        """The budget the frame-drop trigger divides: the visual budget less the ``<image>`` id
        the released code counts as text (``placeholder_tokens``), at least 1."""
        return max(1, budget - self.config.placeholder_tokens)

    def drops_frames(self, num_frames: int, budget: int) -> bool:
        """Whether temporal reduction runs: ``T >= max(1, drop_budget // divisor)``."""
        div = self.config.drop_divisor
        return num_frames >= max(1, self.drop_budget(budget) // div)

    def llm_token_count(self, num_frames: int, budget: int, compressor=None) -> TokenCount:
        """An upper bound: temporal reduction runs before the compressor (it may drop frames, and
        then the budget is the bound) and row newlines are added after it, within the budget."""
        if self.drops_frames(num_frames, budget):
            return TokenCount(budget, exact=False)
        c = super().llm_token_count(num_frames, budget, compressor)
        rows = num_frames * self.config.final_side if self.config.image_newline else 0
        return TokenCount(min(budget, c.tokens + rows), exact=False)

    @torch.inference_mode()
    def frame_tokens(self, batches: Iterable[FrameBatch], *, num_frames: int, budget: int,
                     content_wh: tuple[int, int]) -> LongVUFrames:
        """12x12 tokens (aggregated and projected) of the frames temporal reduction keeps."""
        import time

        from longvid.compress.temporal import TemporalReducer, apply_guard

        t0 = time.perf_counter()
        tcfg = self.temporal_config()
        reduce = self.drops_frames(num_frames, budget)
        reducer: TemporalReducer[SampledFrame] | None = TemporalReducer(tcfg) if reduce else None
        token_towers, temporal_tower = self.encoders[:-1], self.encoders[-1]
        picture = content_mask(self.encoders[0].grid, self.config.read_size(content_wh))
        pushed = 0
        agg_parts, ts_parts, idx_parts = [], [], []

        def aggregate(frames: list[SampledFrame]) -> None:
            if not frames:
                return
            batch = _as_batch(frames)
            maps = [e.encode(batch, content_wh=content_wh).features for e in token_towers]
            maps.append(torch.stack([f.temporal_features for f in frames]))
            agg_parts.append(self.connector.aggregate(maps, picture))
            ts_parts.append(torch.as_tensor(batch.timestamps_s, dtype=torch.float64))
            idx_parts.append(torch.as_tensor(batch.indices, dtype=torch.long))

        for batch in batches:
            temporal = temporal_tower.encode(batch, content_wh=content_wh).features
            frames = [SampledFrame(batch.frames[j], float(batch.timestamps_s[j]), float(batch.targets_s[j]),
                                   int(batch.indices[j]), temporal[j]) for j in range(len(batch))]
            pushed += len(frames)
            if reducer is None:
                aggregate(frames)
            else:
                aggregate([s.payload for s in reducer.push(temporal, frames) if s.kept])
        if reducer is not None:
            aggregate([s.payload for s in reducer.finish() if s.kept])
        if not agg_parts:
            from longvid.errors import VideoTooShortError

            raise VideoTooShortError("the video gave no frames to encode")
        agg, ts, idx = torch.cat(agg_parts), torch.cat(ts_parts), torch.cat(idx_parts)
        if reduce:
            sel = apply_guard(torch.arange(len(idx)), tcfg.max_frames, tcfg.guard_pick)
            agg, ts, idx = agg[sel.to(agg.device)], ts[sel], idx[sel]
        tokens = self.connector.project(self.final_queries(agg))
        fs = self.config.final_side
        n = fs * fs
        stats = StageStats("temporal", pushed, len(idx), pushed * n, len(idx) * n, time.perf_counter() - t0,
                           "" if reduce else f"not applied: {pushed} frames < "
                           f"{self.drop_budget(budget)} // {tcfg.budget_divisor}")
        return LongVUFrames(FrameFeatures(tokens, (fs, fs), ts, idx), agg, stats, tuple(content_wh))

    def final_queries(self, aggregated: torch.Tensor) -> torch.Tensor:
        """Aggregated queries on the final grid: a bilinear resize (before the projector, as
        released) when the query grid (``query_num_list``) differs from ``image_token_len``."""
        from longvid.compress.base import resize_grid

        qs, fs = self.config.query_side, self.config.final_side
        return resize_grid(aggregated, (qs, qs), (fs, fs), mode="bilinear")

    def exact_low_resolution(self, vt: VisualTokens, frames: LongVUFrames) -> VisualTokens:
        """Give low-resolution tokens the released model's values: the aggregated 12x12 queries
        resized to the low grid *before* the projector (the compressor resized projected tokens).
        Which tokens exist is the compressor's decision; only their values are replaced."""
        lh, lw = self.config.low_grid
        if vt.cell_grids is None or (lh, lw) == self.token_grid or len(vt) == 0:
            return vt
        low = (vt.cell_grids[:, 0] == lh) & (vt.cell_grids[:, 1] == lw) & (vt.cells >= 0)
        if not bool(low.any()):
            return vt
        src = frames.features.frame_indices.cpu()
        order = torch.argsort(src)
        want, inverse = torch.unique(vt.frame_indices[low], return_inverse=True)
        rows = order[torch.searchsorted(src[order], want)]
        agg = frames.aggregated[rows.to(frames.aggregated.device)]
        exact = self.connector.project(self.connector.low_resolution(agg, (lh, lw)))  # (U, lh*lw, H)
        tokens = vt.tokens.clone()
        dev = tokens.device
        tokens[low.to(dev)] = exact[inverse.to(exact.device), vt.cells[low].to(exact.device)].to(dev, tokens.dtype)
        return VisualTokens(tokens, vt.frame_indices, vt.timestamps_s, vt.cells, vt.stats, vt.cell_grids)

    def compress(self, frames: LongVUFrames, *, budget: int, query_embedding: torch.Tensor,
                 question: str, compressor=None) -> VisualTokens:
        """Mixed resolution + STC under ``budget``, with row newlines; provenance kept."""
        from longvid.compress import Query
        from longvid.models.newline import fit_with_newlines

        if compressor is None and self.config.image_newline:
            return self.released_compress(frames, budget=budget, query_embedding=query_embedding)
        comp = self.compressor(compressor)
        features = frames.features
        query = Query(text=question, embedding=query_embedding.to(features.features.dtype))

        def run(b: int) -> VisualTokens:
            with torch.inference_mode():
                return self.exact_low_resolution(comp(features, budget=b, query=query), frames)

        if not self.config.image_newline:
            return run(budget)
        return fit_with_newlines(run, self.connector.image_newline.detach(), budget)

    def released_compress(self, frames: LongVUFrames, *, budget: int, query_embedding: torch.Tensor) -> VisualTokens:
        """Stages 2 and 3 as the released checkpoints run them (``longvid.models.longvu.released``):
        newlines counted in the plan, STC on the frames at the resolution the band test picks,
        with their newline column. A compressor given explicitly runs longvid's layout instead."""
        import time

        from longvid.models.longvu.released import released_layout

        t0 = time.perf_counter()
        cfg, feats = self.config, frames.features
        tokens = feats.features
        low = None
        if cfg.highres and tuple(cfg.low_grid) != self.token_grid:
            low = self.connector.project(self.connector.low_resolution(frames.aggregated, cfg.low_grid)).to(tokens.dtype)
        m = self.drop_budget(budget)
        lay = released_layout(tokens, low, self.connector.image_newline.detach(), query_embedding, m,
                              high_grid=self.token_grid, low_grid=tuple(cfg.low_grid), threshold=cfg.drop_threshold,
                              size=cfg.read_size(frames.picture_wh))
        pos = lay.positions
        n = len(feats)
        plan, dt = lay.plan, time.perf_counter() - t0
        res = (f"{plan.upgrades} of {n} frames at high resolution" if plan.upgrades else
               f"every frame at {plan.resolution} resolution")
        stats = (StageStats("mixed_resolution", n, n, n * tokens.shape[1], lay.before_stc, dt,
                            f"{res}, newlines counted (released layout)"),
                 StageStats("stc", n, int(torch.unique(pos).numel()), lay.before_stc, len(pos), 0.0,
                            lay.note if plan.stc else "not applied: the frames fit"))
        return VisualTokens(lay.tokens.to(tokens.device), feats.frame_indices.cpu()[pos],
                            feats.timestamps_s.cpu()[pos], lay.cells, stats, lay.grids)

    def video_tokens(self, video: str, *, question: str, query_ids: torch.Tensor, budget: int,
                     fps: float | None, num_frames: int | None, max_frames: int | None,
                     compressor=None, progress=None) -> VisualTokens:
        """Sample ``video``, encode, reduce, compress to ``budget`` tokens (newlines included)."""
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, plan_targets, sample_frames

        info = probe(video)
        scfg = SamplingConfig(fps=fps, num_frames=num_frames, max_frames=max_frames,
                              size=self.sampling_side(info.display_size), resize="pad",
                              pad_rgb=self.encoders[0].spec.pad_rgb)
        n = len(plan_targets(info, scfg))
        frames = self.frame_tokens(sample_frames(video, scfg, video_progress(progress), info=info), num_frames=n,
                                   budget=budget, content_wh=info.display_size)
        with torch.inference_mode():
            vt = self.compress(frames, budget=budget, query_embedding=self.embed(query_ids), question=question,
                               compressor=compressor)
        return VisualTokens(vt.tokens, vt.frame_indices, vt.timestamps_s, vt.cells, (frames.stats, *vt.stats),
                            vt.cell_grids)
