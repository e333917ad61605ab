"""LongVU as a model: SigLIP + DINOv2 -> spatial aggregator -> MLP -> Qwen2 / Llama-3.2.

Design decisions:
- Frames stream through in batches. DINOv2 encodes every sampled frame; temporal reduction
  (windows of 16, threshold from the config) runs as frames arrive, so SigLIP and the aggregator
  only ever see kept frames, and memory holds one window of pending frames plus the aggregated
  12x12 tokens of kept frames. The 400-frame guard applies at the end, as released.
- Aggregated tokens are projected into the LLM width; mixed resolution (8x8 low-resolution frames,
  the top-k by relevance to the LLM input embeddings of the text after ``<image>`` upgraded to
  12x12) and spatial token compression are the ``longvu`` compressor of ``longvid.compress`` with
  temporal reduction switched off (already done here). The compressor decides which tokens exist
  from a bilinear resize of *projected* tokens; their values are then replaced by the released
  model's (aggregated queries resized to 8x8 *before* the projector), so the LLM sees exactly
  the released low-resolution tokens. Only the ranking and STC decisions use the approximation.
- ``image_newline`` ends every row of every frame (see ``longvid.models.newline``), within budget.
- The budget is ``context_length - text tokens - reserve`` (8192 - text - 16 for the releases).
- The encoders load from their own folders or hub ids (the released checkpoints do not carry them;
  ``vision_towers`` maps a config name to a folder); if a checkpoint does carry encoder weights
  under ``model.vision_tower_aux_list.{i}.vision_tower.``, those are used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from longvid.errors import ModelLoadError
from longvid.models.checkpoint import WeightFiles, expected_shapes, load_module_weights, read_config, resolve_model_dir
from longvid.models.llm import check_checkpoint, llm_config, llm_shapes, load_llm, load_tokenizer
from longvid.models.longvu.config import ENCODERS, LongVUConfig
from longvid.models.longvu.modules import LongVUConnector
from longvid.models.vision import VisionEncoder, content_mask, load_encoder
from longvid.types import FrameBatch, FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)

CONNECTOR_PREFIX = "model."
TOWER_PREFIX = "model.vision_tower_aux_list."


def encoder_source(name: str, folder, towers: Mapping[str, str]) -> str:
    """Where an encoder comes from: an explicit mapping, a subfolder of the model named after the
    encoder's hub repository (``<model>/siglip-so400m-patch14-384``), else the hub id itself."""
    if name in towers:
        return towers[name]
    hub_id = ENCODERS[name][0]
    local = folder / hub_id.split("/")[-1]
    return str(local) if (local / "config.json").is_file() else hub_id


def build_connector(cfg: LongVUConfig, encoder_dims: list[int]) -> LongVUConnector:
    return LongVUConnector(
        encoder_dims=encoder_dims, encoder_grid=cfg.encoder_grid, vision_hidden_size=cfg.vision_hidden_size,
        query_side=cfg.query_side, depth=cfg.connector_depth, num_heads=cfg.aggregator_heads,
        llm_hidden_size=cfg.hidden_size,
    )


@dataclass(frozen=True)
class LongVUFrames:
    """Kept frames as the LLM will see them at high resolution, plus what produced them."""

    features: FrameFeatures  # projected 12x12 tokens (T, 144, H) with provenance
    aggregated: torch.Tensor  # (T, 144, vision_hidden) aggregator output, before the projector
    stats: StageStats  # temporal reduction


@dataclass
class LongVUModel:
    config: LongVUConfig
    llm: object  # transformers Qwen2ForCausalLM / LlamaForCausalLM
    tokenizer: object
    connector: LongVUConnector
    encoders: list[VisionEncoder]  # [SigLIP (tokens, context), ..., DINOv2 (temporal reduction)]
    source: str

    family = "longvu"

    @classmethod
    def load(cls, model: str, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
             vision_towers: Mapping[str, str] | None = None, chunk_size: int = 32) -> LongVUModel:
        folder = resolve_model_dir(model)
        raw = read_config(folder)
        cfg = LongVUConfig.from_dict(raw, where=str(folder / "config.json"))
        dtype = dtype or (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
        weights = WeightFiles(folder)
        cfg_name, model_name = cfg.llm_family
        overrides = {"rope_scaling": None} if cfg.model_type == "cambrian_qwen" else {}
        text_cfg = llm_config(raw, cfg_name, **overrides)

        towers = dict(vision_towers or {})
        encoders = []
        for i, (name, spec) in enumerate(zip(cfg.encoders, cfg.encoder_specs())):
            prefix = f"{TOWER_PREFIX}{i}.vision_tower."
            own = [k for k in weights.keys() if k.startswith(prefix)]
            sd = weights.load(own, strip=prefix) if own else None
            source = encoder_source(name, folder, towers)
            try:
                encoders.append(load_encoder(source, spec, dtype=dtype, device=device, chunk_size=chunk_size,
                                             state_dict=sd))
            except ModelLoadError as exc:
                hub_id = ENCODERS[name][0]
                raise ModelLoadError(
                    f"{exc}. LongVU checkpoints do not carry their {spec.kind} encoder: download {hub_id} "
                    f"into {folder / hub_id.split('/')[-1]} (or pass vision_towers={{{name!r}: DIR}})"
                ) from exc
        connector = build_connector(cfg, [e.hidden_size for e in encoders])
        conn_shapes = expected_shapes(connector, CONNECTOR_PREFIX)
        check_checkpoint(weights, llm_shapes(text_cfg, model_name),
                         tied=bool(getattr(text_cfg, "tie_word_embeddings", False)),
                         extra_expected=conn_shapes, allowed_prefixes=(TOWER_PREFIX,))
        connector.to(device=device, dtype=dtype)
        load_module_weights(connector, weights.load(conn_shapes, strip=CONNECTOR_PREFIX), where=str(folder))
        llm = load_llm(folder, text_cfg, model_name, dtype=dtype, device=device)
        return cls(cfg, llm, load_tokenizer(folder), connector.eval(), encoders, model)

    # ------------------------------------------------------------------ frames -> tokens
    @property
    def sampling_size(self) -> int:
        return max(e.spec.image_size for e in self.encoders)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        emb = self.llm.get_input_embeddings()
        return emb(ids.to(emb.weight.device))

    def context_budget(self, num_text_tokens: int, context_length: int | None = None) -> int:
        ctx = context_length or self.config.context_length
        return ctx - num_text_tokens - self.config.reserve_tokens

    @torch.inference_mode()
    def frame_tokens(self, batches: Iterable[FrameBatch], *, num_frames: int, budget: int,
                     content_wh: tuple[int, int]) -> LongVUFrames:
        """12x12 tokens (aggregated and projected) of the frames temporal reduction keeps."""
        import time

        from longvid.compress.temporal import TemporalConfig, TemporalReducer, apply_guard

        t0 = time.perf_counter()
        tcfg = TemporalConfig(threshold=self.config.dino_threshold)
        reduce = tcfg.applies(num_frames, budget)
        reducer = TemporalReducer(tcfg) if reduce else None
        tok_enc, temporal_enc = self.encoders[0], self.encoders[-1]
        picture = content_mask(tok_enc.grid, content_wh)
        pending: list[tuple[int, object, torch.Tensor, float, int]] = []  # (pos, pixels, dino, t, idx)
        pushed = 0
        agg_parts, ts_parts, idx_parts, pos_parts = [], [], [], []

        def run(rows) -> None:
            if not rows:
                return
            import numpy as np

            px = np.stack([r[1] for r in rows])
            dino = torch.stack([r[2] for r in rows])
            maps = [e.encode(px, content_wh=content_wh) for e in self.encoders[:-1]] + [dino]
            agg_parts.append(self.connector.aggregate(maps, picture))
            ts_parts.append(torch.tensor([r[3] for r in rows], dtype=torch.float64))
            idx_parts.append(torch.tensor([r[4] for r in rows], dtype=torch.long))
            pos_parts.append(torch.tensor([r[0] for r in rows], dtype=torch.long))

        for batch in batches:
            dino = temporal_enc.encode(batch.frames, content_wh=content_wh)
            rows = [(pushed + j, batch.frames[j], dino[j], float(batch.timestamps_s[j]), int(batch.indices[j]))
                    for j in range(len(batch))]
            pushed += len(batch)
            if reducer is None:
                run(rows)
                continue
            pending.extend(rows)
            kept, _ = reducer.push(dino)
            done = (pushed // tcfg.window_frames) * tcfg.window_frames
            keep = set(kept.tolist())
            run([r for r in pending if r[0] < done and r[0] in keep])
            pending = [r for r in pending if r[0] >= done]
        if reducer is not None:
            kept, _ = reducer.finish()
            keep = set(kept.tolist())
            run([r for r in pending if r[0] in keep])
        if not agg_parts:
            from longvid.errors import VideoTooShortError

            raise VideoTooShortError("the video gave no frames to encode")
        agg = torch.cat(agg_parts)
        ts, idx, pos = torch.cat(ts_parts), torch.cat(idx_parts), torch.cat(pos_parts)
        if reduce:
            sel = apply_guard(torch.arange(len(pos)), tcfg.max_frames)
            agg, ts, idx, pos = agg[sel.to(agg.device)], ts[sel], idx[sel], pos[sel]
        tokens = self.connector.project(agg)
        qs = self.config.query_side
        n = qs * qs
        stats = StageStats("temporal", pushed, len(pos), pushed * n, len(pos) * n, time.perf_counter() - t0,
                           "" if reduce else f"not applied: {pushed} frames < budget // {tcfg.budget_divisor}")
        return LongVUFrames(FrameFeatures(tokens, (qs, qs), ts, idx), agg, stats)

    def exact_low_resolution(self, vt: VisualTokens, frames: LongVUFrames) -> VisualTokens:
        """Give low-resolution tokens the released model's values: the aggregated 12x12 queries
        resized to 8x8 *before* the projector (the compressor resized projected tokens).
        Which tokens exist is the compressor's decision; only their values are replaced."""
        ls = self.config.lowres_token
        if vt.cell_grids is None or ls == self.config.query_side or len(vt) == 0:
            return vt
        low = (vt.cell_grids[:, 0] == ls) & (vt.cell_grids[:, 1] == ls) & (vt.cells >= 0)
        if not bool(low.any()):
            return vt
        src = frames.features.frame_indices.cpu()
        order = torch.argsort(src)
        want, inverse = torch.unique(vt.frame_indices[low], return_inverse=True)
        rows = order[torch.searchsorted(src[order], want)]
        agg = frames.aggregated[rows.to(frames.aggregated.device)]
        exact = self.connector.project(self.connector.low_resolution(agg, ls))  # (U, ls*ls, H)
        tokens = vt.tokens.clone()
        dev = tokens.device
        tokens[low.to(dev)] = exact[inverse.to(exact.device), vt.cells[low].to(exact.device)].to(dev, tokens.dtype)
        return VisualTokens(tokens, vt.frame_indices, vt.timestamps_s, vt.cells, vt.stats, vt.cell_grids)

    def compress(self, frames: LongVUFrames, *, budget: int, query_embedding: torch.Tensor,
                 question: str, compressor=None) -> VisualTokens:
        """Mixed resolution + STC under ``budget``, with row newlines; provenance kept."""
        from longvid.compress import Query, create_compressor
        from longvid.compress.stc import STCConfig
        from longvid.models.newline import fit_with_newlines

        if isinstance(compressor, str):
            compressor = create_compressor(compressor)
        if compressor is None:
            compressor = create_compressor(
                "longvu", temporal=None, stc=STCConfig(threshold=self.config.drop_threshold),
                **({} if self.config.highres else {"mixed_resolution": None}))
        features = frames.features
        query = Query(text=question, embedding=query_embedding.to(features.features.dtype))

        def run(b: int) -> VisualTokens:
            with torch.inference_mode():
                return self.exact_low_resolution(compressor(features, budget=b, query=query), frames)

        if not self.config.image_newline:
            return run(budget)
        return fit_with_newlines(run, self.connector.image_newline.detach(), budget)

    def video_tokens(self, video: str, *, question: str, query_ids: torch.Tensor, budget: int,
                     fps: float | None, num_frames: int | None, max_frames: int | None,
                     compressor=None, progress=None) -> VisualTokens:
        """Sample ``video``, encode, reduce, compress to ``budget`` tokens (newlines included)."""
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, plan_targets, sample_frames

        info = probe(video)
        scfg = SamplingConfig(fps=fps, num_frames=num_frames, max_frames=max_frames, size=self.sampling_size,
                              resize="pad", pad_rgb=tuple(int(m * 255) for m in self.encoders[0].spec.mean))
        n = len(plan_targets(info, scfg))
        frames = self.frame_tokens(sample_frames(video, scfg, _video_progress(progress), info=info), num_frames=n, budget=budget,
                                   content_wh=info.display_size)
        with torch.inference_mode():
            vt = self.compress(frames, budget=budget, query_embedding=self.embed(query_ids), question=question,
                               compressor=compressor)
        return VisualTokens(vt.tokens, vt.frame_indices, vt.timestamps_s, vt.cells, (frames.stats, *vt.stats),
                            vt.cell_grids)


def _video_progress(progress):
    """Adapt a ``progress(stage, done, total)`` callback to the sampler's ``(done_s, total_s)``."""
    if progress is None:
        return None
    return lambda done, total: progress("visual", done, total)
