"""LongVA as a model: CLIP-L/336 (second-to-last layer) -> 2-layer MLP -> 2x2 pool -> Qwen2.

Design decisions:
- Weight names follow LLaVA-NeXT: ``model.mm_projector.{0,2}`` and the encoder under
  ``model.vision_tower.vision_tower.`` (read from the checkpoint when there, else from the encoder's
  own folder or hub id). The 2x2 pool after the projector is part of the model (it was trained
  that way): each frame gives 144 tokens on a 12x12 grid, concatenated with no separators.
- Frames are encoded in batches as they are decoded; only pooled tokens are kept. The video then
  goes through a longvid compressor to fit the budget: by default ``uniform`` (LongVA itself does
  not compress; over budget, frames are subsampled evenly and the stats say so). Any compressor
  (``longvu``, ``bilinear``...) can be passed instead; token counts are always the compressor's.
- Single images use UniRes: the best grid of 336-px crops (up to 7x7, or the config's pinpoints),
  each encoded and pooled to 144 tokens, concatenated row by row of crops.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import torch
from torch import nn

from longvid.models.checkpoint import WeightFiles, expected_shapes, load_module_weights, read_config, resolve_model_dir
from longvid.models.llm import check_checkpoint, llm_config, llm_shapes, load_llm, load_tokenizer
from longvid.models.longva.config import LongVAConfig
from longvid.models.vision import CLIP_L14_336, VisionEncoder, load_encoder
from longvid.types import FrameBatch, FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)

TOWER_PREFIX = "model.vision_tower.vision_tower."


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
class LongVAModel:
    config: LongVAConfig
    llm: object
    tokenizer: object
    connector: LongVAConnector
    encoder: VisionEncoder
    source: str

    family = "longva"

    @classmethod
    def load(cls, model: str, *, device="cpu", dtype: torch.dtype | None = None,
             vision_towers: Mapping[str, str] | None = None, chunk_size: int = 32) -> LongVAModel:
        folder = resolve_model_dir(model)
        raw = read_config(folder)
        cfg = LongVAConfig.from_dict(raw, where=str(folder / "config.json"))
        dtype = dtype or (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
        weights = WeightFiles(folder)
        cfg_name, model_name = cfg.llm_family
        text_cfg = llm_config(raw, cfg_name)
        own = [k for k in weights.keys() if k.startswith(TOWER_PREFIX)]
        source = (vision_towers or {}).get(cfg.vision_tower, cfg.vision_tower)
        spec = replace(CLIP_L14_336, select_layer=cfg.select_layer, image_size=cfg.image_size)
        encoder = load_encoder(source, spec, dtype=dtype, device=device, chunk_size=chunk_size,
                               state_dict=weights.load(own, strip=TOWER_PREFIX) if own else None)
        connector = LongVAConnector(cfg)
        conn_shapes = expected_shapes(connector, "model.")
        check_checkpoint(weights, llm_shapes(text_cfg, model_name),
                         tied=bool(getattr(text_cfg, "tie_word_embeddings", False)),
                         extra_expected=conn_shapes, allowed_prefixes=(TOWER_PREFIX,))
        connector.to(device=device, dtype=dtype)
        load_module_weights(connector, weights.load(conn_shapes, strip="model."), where=str(folder))
        llm = load_llm(folder, text_cfg, model_name, dtype=dtype, device=device)
        return cls(cfg, llm, load_tokenizer(folder), connector.eval(), encoder, model)

    def context_budget(self, num_text_tokens: int, context_length: int | None = None) -> int:
        return (context_length or self.config.context_length) - num_text_tokens - self.config.reserve_tokens

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        emb = self.llm.get_input_embeddings()
        return emb(ids.to(emb.weight.device))

    @torch.inference_mode()
    def frame_tokens(self, batches: Iterable[FrameBatch]) -> FrameFeatures:
        """Pooled projected tokens ``(T, 144, H)`` on the 12x12 grid, with provenance."""
        parts, ts, idx = [], [], []
        for batch in batches:
            parts.append(self.connector(self.encoder.encode(batch.frames)))
            ts.append(torch.as_tensor(batch.timestamps_s, dtype=torch.float64))
            idx.append(torch.as_tensor(batch.indices, dtype=torch.long))
        if not parts:
            from longvid.errors import VideoTooShortError

            raise VideoTooShortError("the video gave no frames to encode")
        g = self.config.pooled_grid
        return FrameFeatures(torch.cat(parts), (g, g), torch.cat(ts), torch.cat(idx))

    def video_tokens(self, video: str, *, question: str, query_ids: torch.Tensor, budget: int,
                     fps: float | None, num_frames: int | None, max_frames: int | None,
                     compressor=None, progress=None) -> VisualTokens:
        import time

        from longvid.compress import Query, create_compressor
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, sample_frames

        t0 = time.perf_counter()
        info = probe(video)
        scfg = SamplingConfig(fps=fps, num_frames=num_frames, max_frames=max_frames,
                              size=self.config.image_size, resize="crop")
        feats = self.frame_tokens(sample_frames(video, scfg, _video_progress(progress), info=info))
        n, per = len(feats), self.config.tokens_per_frame
        st = StageStats("encode", n, n, n * per, n * per, time.perf_counter() - t0, "CLIP, projector, 2x2 pool")
        comp = compressor if compressor is not None else create_compressor("uniform")
        if isinstance(comp, str):
            comp = create_compressor(comp)
        query = Query(text=question, embedding=self.embed(query_ids).to(feats.features.dtype))
        vt = comp(feats, budget=budget, query=query)
        return VisualTokens(vt.tokens, vt.frame_indices, vt.timestamps_s, vt.cells, (st, *vt.stats), vt.cell_grids)

    # ------------------------------------------------------------------ single images (UniRes)
    @torch.inference_mode()
    def image_tokens(self, image) -> VisualTokens:
        """UniRes tokens of one RGB uint8 ``(H, W, 3)`` image: 144 per 336-px crop."""
        from longvid.models.longva.unires import split_crops

        crops, (ny, nx) = split_crops(image, self.config.grid_pinpoints, self.config.image_size)
        tok = self.connector(self.encoder.encode(crops))  # (ny*nx, 144, H)
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


def _video_progress(progress):
    """Adapt a ``progress(stage, done, total)`` callback to the sampler's ``(done_s, total_s)``."""
    if progress is None:
        return None
    return lambda done, total: progress("visual", done, total)
