"""LongVA as a model: CLIP-L/336 (second-to-last layer) -> 2-layer MLP -> 2x2 pool -> Qwen2.

Design decisions:
- Weight names follow LLaVA-NeXT: ``model.mm_projector.{0,2}`` and the tower under
  ``model.vision_tower.vision_tower.`` (read from the checkpoint when there, else from the tower's
  own folder or hub id; see ``longvid.models.loader``). The 2x2 pool after the projector is part
  of the model (it was trained that way): each frame gives 144 tokens on a 12x12 grid,
  concatenated with no separators.
- Frames are encoded in batches as they are decoded; only pooled tokens are kept. The video then
  goes through a longvid compressor to fit the budget: by default ``uniform`` (LongVA itself does
  not compress; over budget, frames are subsampled evenly and the stats say so). Any compressor
  (``longvu``, ``bilinear``...) can be passed instead; token counts are always the compressor's.
- The sequence grows with every frame that reaches the LLM, so the memory plan is checked
  against those frames (the compressor's token count over 144 per frame), not the sampled ones.
- Single images use UniRes: the best grid of 336-px crops (up to 7x7, or the config's pinpoints),
  each encoded and pooled to 144 tokens, concatenated row by row of crops.
- The released code cuts the embedded sequence to ``tokenizer_model_max_length`` (which can cut
  the question); longvid budgets the video to ``context_length`` and keeps the whole question, but
  logs a warning when the released code would have cut (``warn_if_released_would_cut``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from longvid.encoders import frames_batch
from longvid.models.longva.config import LongVAConfig
from longvid.models.video_llm import VideoLLM, video_progress
from longvid.types import FrameBatch, FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)


class LongVAConnector(nn.Module):
    """``mm_projector`` (Linear, GELU, Linear...) and the spatial pool, under released names."""

    def __init__(self, cfg: LongVAConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(cfg.mm_hidden_size, cfg.hidden_size)]
        for _ in range(cfg.projector_depth - 1):
            layers += [nn.GELU(), nn.Linear(cfg.hidden_size, cfg.hidden_size)]
        self.mm_projector = layers[0] if cfg.projector_depth == 1 else nn.Sequential(*layers)
        self.grid = cfg.patch_grid
        self.stride = cfg.pool_stride
        self.mode = cfg.pool_mode

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """``(B, g*g, mm_hidden)`` -> ``(B, ceil(g/s)^2, hidden)``: project, then pool."""
        import torch.nn.functional as F

        x = self.mm_projector(patches.to(next(self.parameters()).dtype))
        b, n, d = x.shape
        x = x.view(b, self.grid, self.grid, d).permute(0, 3, 1, 2)
        pool = F.avg_pool2d if self.mode == "average" else F.max_pool2d
        x = pool(x, self.stride, ceil_mode=True)
        return x.flatten(2).transpose(1, 2)


@dataclass
class LongVAModel(VideoLLM):
    config: LongVAConfig
    connector: LongVAConnector

    family = "longva"
    per_frame_tokens = True  # CLIP, projector, 2x2 pool per frame; frames concatenated as they are

    @property
    def encoder(self):
        """The CLIP tower (LongVA has one)."""
        return self.encoders[0]

    @property
    def token_grid(self) -> tuple[int, int]:
        g = self.config.pooled_grid
        return g, g

    def default_compressor(self):
        from longvid.compress import create_compressor

        return create_compressor("uniform")

    def memory_frames(self, num_frames: int, budget: int, compressor=None) -> int:
        """Frames' worth of tokens that reach the LLM: each one grows the sequence."""
        tokens = self.llm_token_count(num_frames, budget, compressor).tokens
        per = self.config.tokens_per_frame
        return min(num_frames, -(-tokens // per))

    @torch.inference_mode()
    def frame_tokens(self, batches: Iterable[FrameBatch]) -> FrameFeatures:
        """Pooled projected tokens ``(T, 144, H)`` on the 12x12 grid, with provenance."""
        parts, ts, idx = [], [], []
        for batch in batches:
            feats = self.encoder.encode(batch)
            parts.append(self.connector(feats.features))
            ts.append(feats.timestamps_s)
            idx.append(feats.frame_indices)
        if not parts:
            from longvid.errors import VideoTooShortError

            raise VideoTooShortError("the video gave no frames to encode")
        return FrameFeatures(torch.cat(parts), self.token_grid, torch.cat(ts), torch.cat(idx))

    def video_tokens(self, video: str, *, question: str, query_ids: torch.Tensor, budget: int,
                     fps: float | None, num_frames: int | None, max_frames: int | None,
                     compressor=None, progress=None) -> VisualTokens:
        import time

        from longvid.compress import Query
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, sample_frames

        t0 = time.perf_counter()
        info = probe(video)
        scfg = SamplingConfig(fps=fps, num_frames=num_frames, max_frames=max_frames,
                              size=self.config.image_size, resize="crop")
        feats = self.frame_tokens(sample_frames(video, scfg, video_progress(progress), info=info))
        n, per = len(feats), self.config.tokens_per_frame
        self.warn_if_released_would_cut(n * per, len(query_ids))
        st = StageStats("encode", n, n, n * per, n * per, time.perf_counter() - t0, "CLIP, projector, 2x2 pool")
        query = Query(text=question, embedding=self.embed(query_ids).to(feats.features.dtype))
        vt = self.compressor(compressor)(feats, budget=budget, query=query)
        return VisualTokens(vt.tokens, vt.frame_indices, vt.timestamps_s, vt.cells, (st, *vt.stats), vt.cell_grids)

    def warn_if_released_would_cut(self, visual_tokens: int, tail_tokens: int) -> bool:
        """Log a warning (and return True) when the released code, which cuts the embedded sequence
        to ``tokenizer_model_max_length``, would have cut this prompt: ``visual_tokens`` (every
        frame, uncompressed, as it embeds them) plus the ``tail_tokens`` after the video (the
        question) exceed it. The text before the video is not counted, so this never warns
        spuriously. longvid itself budgets to ``context_length`` and never cuts the question."""
        limit = self.config.truncation_length
        if limit is None or visual_tokens + tail_tokens <= limit:
            return False
        logger.warning("the released LongVA code would cut this prompt: %d video tokens + %d question tokens "
                       "exceed its tokenizer_model_max_length %d, so it would see %s; longvid keeps the whole "
                       "question (the video is budgeted to context_length %d instead)", visual_tokens,
                       tail_tokens, limit, "no question" if visual_tokens >= limit else "part of the question",
                       self.config.context_length)
        return True

    # ------------------------------------------------------------------ single images (UniRes)
    @torch.inference_mode()
    def image_tokens(self, image) -> VisualTokens:
        """UniRes tokens of one RGB uint8 ``(H, W, 3)`` image: 144 per 336-px crop."""
        from longvid.models.longva.unires import split_crops

        crops, (ny, nx) = split_crops(image, self.config.grid_pinpoints, self.config.image_size)
        tok = self.connector(self.encoder.encode(frames_batch(crops)).features)  # (ny*nx, 144, H)
        g = self.config.pooled_grid
        n = g * g
        c = torch.arange(ny * nx).repeat_interleave(n)
        k = torch.arange(n).repeat(ny * nx)
        # cell on the whole image's (ny*g) x (nx*g) grid, row-major
        cells = ((c // nx) * g + k // g) * (nx * g) + (c % nx) * g + k % g
        m = len(cells)
        return VisualTokens(tok.reshape(m, -1), torch.zeros(m, dtype=torch.long),
                            torch.zeros(m, dtype=torch.float64), cells,
                            (StageStats("unires", 1, 1, m, m, 0.0, f"{ny}x{nx} crops"),),
                            torch.tensor([ny * g, nx * g]).expand(m, 2).clone())
