"""LLaVA-OneVision through transformers, with a longvid compressor between its video tokens and the LLM.

Design decisions:
- The model is transformers' own ``LlavaOnevisionForConditionalGeneration`` loaded with
  ``from_pretrained``: the SigLIP tower, the projector, the video pooling and the newline
  embedding are the released modules, called through its ``get_video_features``. longvid adds
  sampling (its io, exact timestamps), the compressor, positions and provenance.
- The video layout is the model's: each frame's projected tower grid (27x27 for the released
  384 px / patch 14 tower) is bilinearly resized to ceil(side / 2) (14x14: 196 tokens a frame),
  frames follow each other, and one ``image_newline`` token closes the whole video (not one per
  row or per frame: that is the image path). The compressor sees these pooled tokens, one
  ``FrameFeatures`` row per sampled frame on the pooled grid, and the newline is appended after
  the survivors, always exactly one.
- Positions are 1D. Rule ``"kept"`` (the default): every kept token, text or video, keeps its
  position in the uncompressed sequence, so the compressed prompt equals the uncompressed one
  with the dropped tokens masked (a test checks the logits), and the answer continues from the
  uncompressed length. Rule ``"contiguous"``: positions are renumbered 0..L-1, which keeps a
  long compressed video inside the trained context. Both are typed options.
- Generation is a greedy/sampling loop over ``inputs_embeds`` with explicit positions; with
  compression "none" it gives transformers' ``generate`` token for token (a test checks it).
- Compressors that keep tokens on the pooled grid (``uniform``, ``longvu_temporal``) keep each
  token's place; a compressor that merges tokens further (``avg_pool_2x2``, ``bilinear``) puts
  each merged token at the place of its window's first cell (the rule Qwen-VL's path uses, see
  ``representative_cells``); a token summarising a whole frame (cell -1) is refused.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from longvid.errors import BudgetError, InvalidFeaturesError, ModelLoadError, require
from longvid.models.llava_onevision.preprocess import OnevisionPreprocessor
from longvid.types import FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)

VIDEO_TOKEN = "<video>"
PositionRule = Literal["kept", "contiguous"]
# LLaVA-OneVision's own video defaults, the one place they live: 32 frames spread over the video
# (its evaluation setting), and the budget those frames take (32 x 196 pooled tokens)
ONEVISION_NUM_FRAMES = 32
ONEVISION_MAX_VIDEO_TOKENS = 32 * 196


@dataclass(frozen=True)
class SampledFrames:
    frames: np.ndarray  # (T, h, w, 3) uint8 at the processor's size
    timestamps_s: np.ndarray  # (T,)


@dataclass(frozen=True)
class Prepared:
    """One question about one video, ready for the LLM."""

    inputs_embeds: torch.Tensor  # (1, L, D)
    position_ids: torch.Tensor  # (1, L)
    input_ids: torch.Tensor  # (1, L): video tokens where the survivors and the newline are
    visual: VisualTokens  # the surviving video tokens (the newline is not one), with provenance
    full_positions: torch.Tensor  # (1, L_full): positions of the uncompressed sequence
    kept: torch.Tensor  # (L,) where each entry sits in the uncompressed sequence
    newline_slot: int  # index in the compressed sequence of the one newline token
    text_tokens: int
    num_frames: int


class OnevisionModel:
    """A loaded LLaVA-OneVision checkpoint with longvid's sampling and compression."""

    family = "llava_onevision"

    def __init__(self, model, tokenizer, preprocessor: OnevisionPreprocessor, chat_template: str | None,
                 source: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.pre = preprocessor
        self.chat_template = chat_template
        self.source = source
        self.video_token_id = int(model.config.video_token_id)

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, device: str = "cpu", dtype=None) -> OnevisionModel:
        transformers = require("transformers", extra="models")
        from longvid.models.checkpoint import resolve_model_dir
        from longvid.models.loader import default_dtype

        path = resolve_model_dir(str(folder))
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise ModelLoadError(f"{path} has no config.json; pass the folder (or hub id) of a released "
                                 "LLaVA-OneVision model (llava-hf/llava-onevision-qwen2-7b-ov-hf)")
        mt = json.loads(cfg_file.read_text()).get("model_type")
        if mt != "llava_onevision":
            raise ModelLoadError(f"{cfg_file}: model_type {mt!r} is not llava_onevision; the original LLaVA "
                                 "release layout needs the transformers conversion (the llava-hf/*-hf repos)")
        try:
            model = transformers.LlavaOnevisionForConditionalGeneration.from_pretrained(
                str(path), dtype=dtype or default_dtype(device))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path}: not a loadable LLaVA-OneVision checkpoint ({exc})") from exc
        tok = transformers.AutoTokenizer.from_pretrained(str(path))
        template = getattr(tok, "chat_template", None)
        tpl_file = path / "chat_template.json"
        if tpl_file.is_file():  # the processor's template, when the release ships one, wins
            template = json.loads(tpl_file.read_text()).get("chat_template", template)
        return cls(model.to(device).eval(), tok, OnevisionPreprocessor.from_folder(path), template, str(folder))

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def tower_grid(self) -> int:
        v = self.model.config.vision_config
        return int(v.image_size) // int(v.patch_size)

    @property
    def pooled_grid(self) -> tuple[int, int]:
        """The model's video grid after its 2x2 bilinear pooling (ceil of half each side)."""
        s = math.ceil(self.tower_grid / 2)
        return s, s

    # ------------------------------------------------------------------ sampling, pixels, features
    def sample(self, video: str, *, fps: float | None = None, num_frames: int | None = ONEVISION_NUM_FRAMES,
               max_frames: int | None = None, progress=None) -> SampledFrames:
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, sample_frames

        info = probe(video)
        if num_frames is not None and info.num_frames:
            num_frames = min(num_frames, info.num_frames)
        cfg = SamplingConfig(fps=fps, num_frames=None if fps is not None else num_frames, max_frames=max_frames,
                             resize="none")
        frames, times = [], []
        for b in sample_frames(video, cfg, progress, info=info):
            frames.append(self.pre.resize(b.frames).permute(0, 2, 3, 1).numpy())  # bounded memory
            times.append(b.timestamps_s)
        return SampledFrames(np.concatenate(frames), np.concatenate(times))

    def pixels(self, frames: np.ndarray) -> torch.Tensor:
        return self.pre(frames)

    @torch.inference_mode()
    def video_features(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled tokens ``(T, h*w, D)``, the newline ``(D,)``): tower, projector, 2x2 bilinear pooling."""
        out = self.model.model.get_video_features(pixel_values_videos=pixel_values.to(self.device, self.model.dtype),
                                                   return_dict=True)
        seq = out.pooler_output[0]  # (T * h * w + 1, D): frames, then the one newline
        t = pixel_values.shape[1]
        return seq[:-1].reshape(t, -1, seq.shape[-1]), seq[-1]

    def frame_features(self, feats: torch.Tensor, sampled: SampledFrames) -> FrameFeatures:
        ts = torch.as_tensor(sampled.timestamps_s, dtype=torch.float64)
        return FrameFeatures(feats, self.pooled_grid, ts, torch.arange(len(ts)))

    # ------------------------------------------------------------------ text
    def prompt_text(self, question: str) -> str:
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
        return self.tokenizer.apply_chat_template(messages, chat_template=self.chat_template, tokenize=False,
                                                  add_generation_prompt=True)

    def prompt_ids(self, question: str, n_video_tokens: int) -> torch.Tensor:
        """The processor's expansion: the one ``<video>`` becomes frames x pooled cells + 1 (the newline)."""
        text = self.prompt_text(question)
        if text.count(VIDEO_TOKEN) != 1:
            raise ModelLoadError(f"the chat template must put one {VIDEO_TOKEN} for a video, got {text.count(VIDEO_TOKEN)}")
        text = text.replace(VIDEO_TOKEN, VIDEO_TOKEN * n_video_tokens)
        return torch.tensor([self.tokenizer(text, add_special_tokens=False)["input_ids"]], dtype=torch.long)

    # ------------------------------------------------------------------ the prompt with compression
    def prepare(self, video: str | SampledFrames, question: str, *, compressor=None, budget: int | None = None,
                fps: float | None = None, num_frames: int | None = ONEVISION_NUM_FRAMES,
                max_frames: int | None = None, positions: PositionRule = "kept", progress=None) -> Prepared:
        from longvid.compress import create_compressor
        from longvid.compress.base import Query
        from longvid.models.qwen_vl.model import representative_cells

        if positions not in ("kept", "contiguous"):
            raise InvalidFeaturesError(f"positions={positions!r}: use 'kept' or 'contiguous'")
        sampled = video if isinstance(video, SampledFrames) else self.sample(
            video, fps=fps, num_frames=num_frames, max_frames=max_frames, progress=progress)
        feats, newline = self.video_features(self.pixels(sampled.frames))
        ff = self.frame_features(feats, sampled)
        t, n_cell = feats.shape[:2]
        n_full = t * n_cell + 1
        full_ids = self.prompt_ids(question, n_full)
        is_video = full_ids[0] == self.video_token_id
        slots = is_video.nonzero()[:, 0]
        if compressor is None or compressor == "none":
            vt = VisualTokens(feats.reshape(t * n_cell, -1), torch.arange(t).repeat_interleave(n_cell),
                              ff.timestamps_s.repeat_interleave(n_cell), torch.arange(n_cell).repeat(t),
                              (StageStats("none", t, t, t * n_cell, t * n_cell),),
                              torch.tensor(ff.grid).expand(t * n_cell, 2))
        else:
            comp = create_compressor(compressor) if isinstance(compressor, str) else compressor
            if budget is None:
                raise BudgetError("a compressor needs a budget of visual tokens: pass budget=")
            after = full_ids[0, int(slots[-1]) + 1:]
            query = Query(text=question, embedding=self.model.get_input_embeddings()(after.to(self.device)).float()
                          .to(feats.dtype))
            with torch.inference_mode():
                vt = comp(ff, budget=budget, query=query)
        if bool((vt.cells < 0).any()):
            raise InvalidFeaturesError(f"{compressor!r} made tokens that summarise a whole frame (cell -1); on "
                                       "LLaVA-OneVision a token needs a cell of the pooled grid to take its place from")
        grids = vt.cell_grids.cpu() if vt.cell_grids is not None else torch.tensor(ff.grid).expand(len(vt), 2)
        # a merged token takes the place of its window's first cell (the rule shared with Qwen-VL)
        rows = vt.frame_indices.cpu() * n_cell + representative_cells(vt.cells.cpu(), grids, ff.grid)
        if len(set(rows.tolist())) != len(rows):
            raise InvalidFeaturesError(f"{compressor!r} returned two tokens for one place (or a grid finer than the "
                                       f"pooled {ff.grid}); each token needs its own place")
        order = rows.argsort()  # the sequence keeps the model's order: frame by frame, row-major
        rows = rows[order]
        vt = VisualTokens(vt.tokens[order.to(vt.tokens.device)], vt.frame_indices[order], vt.timestamps_s[order],
                          vt.cells[order], vt.stats + (StageStats("onevision_newline", len(ff), len(vt.tokens_per_frame()),
                                                                  len(vt), len(vt) + 1, note="one newline after the video"),),
                          grids[order])
        keep = ~is_video
        keep[slots[rows]] = True
        keep[slots[-1]] = True  # the newline, after the last frame
        kept = keep.nonzero()[:, 0]
        ids = full_ids[:, kept]
        full_pos = torch.arange(full_ids.shape[1])[None]
        pos = full_pos[:, kept] if positions == "kept" else torch.arange(len(kept))[None]
        with torch.inference_mode():
            embeds = self.model.get_input_embeddings()(ids.to(self.device))
            mask = (ids[0] == self.video_token_id).nonzero()[:, 0].to(self.device)
            embeds[0, mask[:-1]] = vt.tokens.to(embeds.dtype)
            embeds[0, mask[-1]] = newline.to(embeds.dtype)
        return Prepared(embeds, pos.to(self.device), ids, vt, full_pos, kept, int(mask[-1]),
                        int((~is_video).sum()), len(sampled.timestamps_s))

    # ------------------------------------------------------------------ generation
    @torch.inference_mode()
    def generate(self, prep: Prepared, *, max_new_tokens: int = 128, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0,
                 on_token: Callable[[int], None] | None = None) -> list[int]:
        """New token ids after the prompt (greedy by default), positions continuing from the last + 1."""
        from longvid.models.generate import stop_token_ids
        from longvid.models.qwen_vl.model import pick_token, token_ids

        stops = set(stop_token_ids(self.tokenizer)) | token_ids(self.model.generation_config.eos_token_id)
        out = self.model(inputs_embeds=prep.inputs_embeds, position_ids=prep.position_ids, use_cache=True,
                         logits_to_keep=1)  # not a vocabulary row per prompt token
        cache = out.cache if hasattr(out, "cache") else out.past_key_values
        nxt = int(prep.position_ids.max()) + 1
        logits = out.logits[0, -1]
        new: list[int] = []
        for step in range(max_new_tokens):
            tok = pick_token(logits, do_sample, temperature, top_p)
            new.append(tok)
            if on_token is not None:
                on_token(tok)
            if tok in stops or step == max_new_tokens - 1:
                break
            emb = self.model.get_input_embeddings()(torch.tensor([[tok]], device=self.device))
            out = self.model(inputs_embeds=emb, position_ids=torch.tensor([[nxt + step]], device=self.device),
                             cache=cache, use_cache=True)
            cache = out.cache if hasattr(out, "cache") else out.past_key_values
            logits = out.logits[0, -1]
        return new

    @torch.inference_mode()
    def continuation_logprobs(self, prep: Prepared, continuation: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``(n, vocab)`` predicting each of the ``n`` ``continuation`` ids after
        the prepared prompt, teacher-forced in one pass; the continuation's positions continue from
        the prompt's maximum + 1, as :meth:`generate` places its answer."""
        n = int(continuation.numel())
        cont = continuation.view(1, n).to(self.device)
        embeds = torch.cat([prep.inputs_embeds, self.model.get_input_embeddings()(cont)], dim=1)
        nxt = int(prep.position_ids.max()) + 1
        pos = torch.cat([prep.position_ids, (nxt + torch.arange(n, device=self.device))[None]], dim=1)
        out = self.model(inputs_embeds=embeds, position_ids=pos, use_cache=False, logits_to_keep=n + 1)
        return out.logits[0, -n - 1:-1].float().log_softmax(-1).cpu()
