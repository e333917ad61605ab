"""Video-XL as a model: CLIP-L/336 -> ``mm_projector`` -> 2x2 pool (144 tokens a frame, as
LongVA) -> Qwen2 with beacon tokens, prefilled window by window as frames are decoded.

Design decisions:
- The connector holds every trained part that is not plain Qwen2, under the released names with
  the ``model.`` prefix: ``mm_projector.{0,2}``, ``beacon_embed_tokens`` and, per layer,
  ``layers.N.self_attn.beacon_{q,k,v,o}_proj`` / ``layers.N.mlp.beacon_{up,down}_proj`` as
  ``beacon_param`` lists them. So the shared loader's weight-name report covers the beacon
  weights too (missing, extra or misshapen ones are named), and the Qwen2 weights load through
  transformers unchanged.
- The video is never held: frames are sampled in batches, encoded, projected and pooled, and
  their tokens are fed to :class:`~longvid.models.videoxl.beacon.BeaconPrefill`, which runs a
  window as soon as it is full. Memory is the beacons' cache plus one window and one batch.
- ``video_tokens`` is not the path this family answers through (its visual tokens are key/value
  entries, not embeddings to splice); the engine is :class:`VideoXLEngine`. The
  :class:`~longvid.types.VisualTokens` it reports are the beacons: each one's frame, time and
  first cell, with the mean of the raw tokens it summarises as its vector (for display, not for
  the LLM).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from longvid.models.longva.model import LongVAConnector
from longvid.models.video_llm import VideoLLM, video_progress
from longvid.models.videoxl.beacon import BeaconLM, BeaconPrefill, BeaconSpan
from longvid.models.videoxl.config import VideoXLConfig
from longvid.types import StageStats, VisualTokens

logger = logging.getLogger(__name__)


class _BeaconAttention(nn.Module):
    def __init__(self, hidden: int, q_out: int, kv_out: int, params: tuple[str, ...]) -> None:
        super().__init__()
        if "q" in params:
            self.beacon_q_proj = nn.Linear(hidden, q_out, bias=True)
        if "k" in params:
            self.beacon_k_proj = nn.Linear(hidden, kv_out, bias=True)
        if "v" in params:
            self.beacon_v_proj = nn.Linear(hidden, kv_out, bias=True)
        if "o" in params:
            self.beacon_o_proj = nn.Linear(q_out, hidden, bias=False)  # Qwen2's o_proj has no bias


class _BeaconMLP(nn.Module):
    def __init__(self, hidden: int, inter: int) -> None:
        super().__init__()
        self.beacon_up_proj = nn.Linear(hidden, inter, bias=False)
        self.beacon_down_proj = nn.Linear(inter, hidden, bias=False)


class _BeaconLayer(nn.Module):
    def __init__(self, hidden, q_out, kv_out, inter, params) -> None:
        super().__init__()
        self.self_attn = _BeaconAttention(hidden, q_out, kv_out, params)
        if "mlp" in params:
            self.mlp = _BeaconMLP(hidden, inter)


class VideoXLConnector(LongVAConnector):
    """LongVA's projector and pool, plus the beacon embedding and projections (released names)."""

    def __init__(self, cfg: VideoXLConfig) -> None:
        super().__init__(cfg.vision)
        hidden, d = cfg.hidden_size, cfg.head_dim
        self.beacon_embed_tokens = nn.Embedding(1, hidden)
        self.layers = nn.ModuleList(_BeaconLayer(hidden, cfg.heads * d, cfg.kv_heads * d, cfg.intermediate_size,
                                                 cfg.beacon_param) for _ in range(cfg.layers))


@dataclass(frozen=True)
class VideoXLRun:
    """What one prefill produced: the beacons (as VisualTokens and spans) and the measured cache."""

    visual: VisualTokens
    spans: tuple[BeaconSpan, ...]
    ratio: int
    frames: int
    raw_tokens: int
    windows: int
    cache_bytes: int
    cache_entries: int


@dataclass
class VideoXLModel(VideoLLM):
    config: VideoXLConfig
    connector: VideoXLConnector

    family = "videoxl"
    per_frame_tokens = False  # beacons summarise windows, not frames
    # the engine ``longvid.models.load_engine`` builds for this model (the prefill is not a splice)
    engine_class: ClassVar[str] = "longvid.models.videoxl.engine:VideoXLEngine"

    def __post_init__(self) -> None:
        self.lm = BeaconLM(self.llm, self.connector, self.config.beacon_param)

    @property
    def encoder(self):
        return self.encoders[0]

    @property
    def token_grid(self) -> tuple[int, int]:
        g = self.config.vision.pooled_grid
        return g, g

    def default_compressor(self):
        from longvid.errors import ModelLoadError

        raise ModelLoadError("Video-XL compresses inside its LLM (beacon tokens), not with a token compressor; "
                             "choose the ratio with ratio=2/4/8/16")

    def video_tokens(self, *a, **kw):
        from longvid.errors import ModelLoadError

        raise ModelLoadError("Video-XL's visual tokens are beacon key/values made during the prefill: "
                             "use VideoXLModel.prefill (its engine does)")

    @torch.inference_mode()
    def prefill(self, video: str, before_ids: torch.Tensor, *, fps: float | None, num_frames: int | None,
                max_frames: int | None, ratio: int | None = None, batch_size: int = 10,
                progress: Callable[[str, float, float], None] | None = None) -> tuple[BeaconPrefill, VideoXLRun]:
        """Prefill ``before_ids`` then the video's beacons; the caller adds the text after it."""
        from longvid.errors import VideoTooShortError
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, plan_targets, sample_frames

        t0 = time.perf_counter()
        cfg = self.config
        info = probe(video)
        scfg = SamplingConfig(fps=fps, num_frames=num_frames, max_frames=max_frames, size=cfg.vision.image_size,
                              resize="crop", batch_size=batch_size)
        n_planned = len(plan_targets(info, scfg))
        r = cfg.pick_ratio(ratio, int(before_ids.numel()) + n_planned * cfg.tokens_per_frame)
        pre = BeaconPrefill(self.lm, window=cfg.window, ratio=r)
        pre.add_text(before_ids)
        g = cfg.vision.pooled_grid
        per = g * g
        frames, means = 0, {}
        for batch in sample_frames(video, scfg, video_progress(progress), info=info):
            feats = self.encoder.encode(batch)
            tok = self.connector(feats.features)  # (B, 144, H)
            b = tok.shape[0]
            pre.add_video(tok.reshape(b * per, -1), feats.frame_indices.repeat_interleave(per),
                          feats.timestamps_s.repeat_interleave(per), torch.arange(per).repeat(b))
            for f, row in zip(feats.frame_indices.tolist(), tok.float().mean(1)):
                means[int(f)] = row  # one (H,) mean per frame: the beacons' display vectors
            frames += b
        if frames == 0:
            raise VideoTooShortError(f"{video} gave no frames to encode")
        pre.end_video()
        spans = tuple(pre.spans)
        fidx = torch.tensor([s.first_frame for s in spans], dtype=torch.long)
        width = next(iter(means.values())).numel()
        vecs = torch.stack([means[f] for f in fidx.tolist()]) if spans else torch.zeros(0, width)
        m = len(spans)
        vt = VisualTokens(vecs, fidx, torch.tensor([s.start_s for s in spans], dtype=torch.float64),
                          torch.tensor([s.first_cell for s in spans], dtype=torch.long),
                          (StageStats("beacon", frames, frames, pre.raw_tokens, m, time.perf_counter() - t0,
                                      f"ratio {r}, {pre.windows} windows of {cfg.window}"),),
                          torch.tensor([g, g]).expand(m, 2).clone())
        run = VideoXLRun(vt, spans, r, frames, pre.raw_tokens, pre.windows, pre.cache.nbytes(), len(pre.cache))
        logger.info("videoxl: %d frames, %d raw tokens -> %d beacons (ratio %d), cache %d entries, %.1f MiB",
                    frames, pre.raw_tokens, m, r, len(pre.cache), pre.cache.nbytes() / 2**20)
        return pre, run
