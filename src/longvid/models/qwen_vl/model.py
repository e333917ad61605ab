"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL through transformers, with a longvid compressor between tower and LLM.

Design decisions:
- One path for both generations; what differs (the transformers class, how temporal positions
  are spaced) is a :class:`~longvid.models.qwen_vl.variants.QwenVLVariant`, picked from the
  checkpoint's ``model_type``.
- The model is transformers' own class (``Qwen2_5_VLForConditionalGeneration``, ...) loaded with
  ``from_pretrained`` (its key mapping, tied weights, RoPE), not rebuilt from parts: the vision
  tower, the 2x2 merger and the LLM are the released modules. longvid adds sampling (its io,
  exact timestamps), the compressor, and the position bookkeeping.
- A temporal group (the tower's 3D patch of 2 frames) is the compressor's "frame": the merged
  tokens of one group are one ``FrameFeatures`` row on the merged grid, so a temporal compressor
  drops whole groups and never half of one, and a token is always a whole 2x2 merge window.
- 3D rotary positions (t, h, w) are computed once, by transformers' ``get_rope_index``, on the
  *uncompressed* sequence; the compressed sequence takes, for each surviving token, its position
  there, and the text around the video keeps its positions too. So a surviving token sees
  exactly the rotary phase it would have seen without compression, and the answer's positions
  continue from the same maximum.
- Generation is a greedy/sampling loop over ``inputs_embeds`` with explicit position ids (the
  model's own ``rope_deltas`` bookkeeping assumes an uncompressed sequence). With compression
  "none" the loop gives transformers' ``generate`` token for token (a test checks it).
- Qwen3-VL writes every temporal group as its own prompt segment (``<t seconds>`` text, then
  its pads between vision markers): a group with no survivor loses its whole segment, a group
  with survivors keeps its segment's text and markers; every kept token, text or video, keeps
  its position in the uncompressed sequence. Its deepstack features (inner tower blocks, added
  to the first LLM layers at the video tokens) are kept for exactly the surviving tokens.
- Compressors that merge tokens (``avg_pool_2x2``, ``bilinear``, LongVU's low grid) are taken
  with one position rule: a token on a coarser grid covering the same area stands for a window
  of merged cells (adaptive pooling's windows) and takes the place and (t, h, w) position of the
  window's first (top-left) cell; Qwen3-VL's deepstack copy of it is the window's mean. A token
  that summarises a whole group (cell -1) has no cell to take a position from and is refused.
- Provenance: each token records the sampled index and time of the first frame of its group
  and its cell on the merged grid; the group's second frame is ``index + 1``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from longvid.errors import BudgetError, InvalidFeaturesError, ModelLoadError, require
from longvid.models.qwen_vl.preprocess import VideoPreprocessor
from longvid.models.qwen_vl.variants import VARIANTS, QwenVLVariant, variant_for
from longvid.types import FrameFeatures, StageStats, VisualTokens

logger = logging.getLogger(__name__)

VIDEO_PAD = "<|video_pad|>"
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
# Qwen-VL's own video defaults (its processor's, the same for Qwen2-VL and Qwen2.5-VL), the one place they live
QWEN_FPS = 2.0
QWEN_MAX_FRAMES = 768
QWEN_MAX_VIDEO_TOKENS = 24_576


@dataclass(frozen=True)
class Prepared:
    """One question about one video, ready for the LLM."""

    inputs_embeds: torch.Tensor  # (1, L, D)
    position_ids: torch.Tensor  # (3, 1, L): (t, h, w) rotary positions
    input_ids: torch.Tensor  # (1, L), the compressed sequence's ids (video pads where tokens are)
    visual: VisualTokens  # what stands where the video pads are, with provenance
    full_positions: torch.Tensor  # (3, 1, L_full): the uncompressed sequence's positions
    kept: torch.Tensor  # (L,) the position of each compressed-sequence entry in the uncompressed one
    text_tokens: int
    num_frames: int  # sampled frames (an odd count's last group repeats its one frame)
    deepstack: tuple[torch.Tensor, ...] | None = None  # Qwen3-VL: per LLM layer, (survivors, D) features


@dataclass(frozen=True)
class SampledVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8, at the processor's size
    timestamps_s: np.ndarray  # (T,)
    fps: float  # the sampling rate the temporal positions are spaced by


class QwenVLModel:
    """A loaded Qwen2-VL or Qwen2.5-VL checkpoint with longvid's sampling and compression."""

    def __init__(self, model, tokenizer, preprocessor: VideoPreprocessor, chat_template: str | None,
                 source: str, variant: QwenVLVariant = VARIANTS["qwen2_5_vl"]) -> None:
        self.variant = variant
        self.model = model
        self.tokenizer = tokenizer
        self.pre = preprocessor
        self.chat_template = chat_template
        self.source = source
        self.video_token_id = int(model.config.video_token_id)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, folder: str | Path, *, device: str = "cpu", dtype=None) -> QwenVLModel:
        transformers = require("transformers", extra="models")
        from longvid.models.checkpoint import resolve_model_dir
        from longvid.models.loader import default_dtype

        path = resolve_model_dir(str(folder))
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise ModelLoadError(f"{path} has no config.json; pass the folder (or hub id) of a released Qwen-VL model")
        variant = variant_for(json.loads(cfg_file.read_text()).get("model_type"), where=str(cfg_file))
        dtype = dtype or default_dtype(device)
        try:
            model = getattr(transformers, variant.model_class).from_pretrained(str(path), dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path}: not a loadable {variant.label} checkpoint ({exc}); the folder needs "
                                 "config.json, *.safetensors and the processor files of the release") from exc
        tok = transformers.AutoTokenizer.from_pretrained(str(path))
        template = getattr(tok, "chat_template", None)
        tpl_file = path / "chat_template.json"
        if tpl_file.is_file():  # the processor's template, when the release ships one, wins
            template = json.loads(tpl_file.read_text()).get("chat_template", template)
        pre = VideoPreprocessor.from_folder(path, video_budget=variant.video_pixel_budget)
        return cls(model.to(device).eval(), tok, pre, template, str(folder), variant)

    @property
    def family(self) -> str:
        return self.variant.family

    @property
    def device(self) -> torch.device:
        return self.model.device

    # ------------------------------------------------------------------ sampling and pixels
    def sample(self, video: str, *, fps: float | None, num_frames: int | None, max_frames: int | None,
               progress=None) -> SampledVideo:
        """Frames at exact times from longvid's io, sized for the processor by ``target_hw``."""
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, plan_targets, sample_frames

        info = probe(video)
        cfg = SamplingConfig(fps=fps, num_frames=num_frames, max_frames=max_frames, resize="none")
        frames, times = [], []
        size = None
        count = len(plan_targets(info, cfg)) if self.pre.video_budget else None  # the size depends on it
        for b in sample_frames(video, cfg, progress, info=info):
            # shrink each batch to the processor's size as it arrives: memory is the resized frames
            size = size or self.pre.target_hw(*b.frames.shape[1:3], count)
            frames.append(self.pre.resize(b.frames, size).permute(0, 2, 3, 1).numpy())
            times.append(b.timestamps_s)
        arr, ts = np.concatenate(frames), np.concatenate(times)
        span = float(ts[-1] - ts[0]) if len(ts) > 1 else 0.0
        # a count: the rate is the one the count gives (the temporal positions are spaced by it)
        rate = cfg.fps if cfg.fps is not None else ((len(ts) - 1) / span if span > 0 else 1.0)
        return SampledVideo(arr, ts, float(rate))

    def pixels(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pre(frames)

    def second_per_grid(self, fps: float) -> float:
        """Seconds covered by one temporal group (Qwen2.5-VL spaces temporal positions by it)."""
        return self.pre.temporal_patch_size / fps

    def rope_index(self, ids: torch.Tensor, grid_thw: torch.Tensor, fps: float) -> torch.Tensor:
        """transformers' 3D positions ``(3, 1, L)`` of an uncompressed prompt with one video.

        Qwen2.5-VL's temporal positions follow the seconds each group covers; Qwen2-VL's are the
        group index (its ``get_rope_index`` takes no timing).
        """
        timing = {"second_per_grid_ts": torch.tensor([self.second_per_grid(fps)])} if self.variant.timed_positions else {}
        pos, _ = self.model.model.get_rope_index(ids, mm_token_type_ids=(ids == self.video_token_id).long() * 2,
                                                 video_grid_thw=grid_thw, **timing)
        return pos

    # ------------------------------------------------------------------ text
    def prompt_text(self, question: str) -> str:
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
        return self.tokenizer.apply_chat_template(messages, chat_template=self.chat_template, tokenize=False,
                                                  add_generation_prompt=True)

    def group_times(self, timestamps_s) -> list[float]:
        """Qwen3-VL's time of each temporal group: the mean of its first and last frame's time
        (an odd count's last group repeats its frame), as its processor writes in the prompt."""
        ts = [float(t) for t in timestamps_s]
        tp = self.pre.temporal_patch_size
        ts += [ts[-1]] * (-len(ts) % tp)
        return [(ts[i] + ts[i + tp - 1]) / 2 for i in range(0, len(ts), tp)]

    def video_placeholder(self, n_video_tokens: int, group_times: list[float] | None = None) -> str:
        """What the processor puts for the one video pad: the pads (Qwen2/2.5), or per group
        ``<t seconds><|vision_start|>pads<|vision_end|>`` (Qwen3-VL)."""
        if not self.variant.timestamped_prompt:
            return VIDEO_PAD * n_video_tokens
        if not group_times or n_video_tokens % len(group_times):
            raise InvalidFeaturesError(f"{self.variant.label} writes one segment per temporal group: pass the groups' "
                                       f"times ({n_video_tokens} tokens over {len(group_times or [])} groups)")
        per = n_video_tokens // len(group_times)
        return "".join(f"<{t:.1f} seconds>{VISION_START}{VIDEO_PAD * per}{VISION_END}" for t in group_times)

    def prompt_ids(self, question: str, n_video_tokens: int, group_times: list[float] | None = None) -> torch.Tensor:
        """The processor's expansion: the one video pad becomes one pad per LLM token (Qwen3-VL:
        one timestamped segment per group, ``group_times`` their times)."""
        text = self.prompt_text(question)
        if text.count(VIDEO_PAD) != 1:
            raise ModelLoadError(f"the chat template must put one {VIDEO_PAD} for a video, got {text.count(VIDEO_PAD)}")
        text = text.replace(VIDEO_PAD, self.video_placeholder(n_video_tokens, group_times))
        return torch.tensor([self.tokenizer(text, add_special_tokens=False)["input_ids"]], dtype=torch.long)

    # ------------------------------------------------------------------ vision
    @torch.inference_mode()
    def video_features(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
        """Merged tokens ``(groups * h * w, D)`` in the LLM's space: tower, then 2x2 merger."""
        return self.video_features_deepstack(pixel_values, grid_thw)[0]

    @torch.inference_mode()
    def video_features_deepstack(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor
                                 ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """The merged tokens, and (Qwen3-VL) the deepstack features of the same tokens, one per LLM layer they feed."""
        out = self.model.model.get_video_features(pixel_values_videos=pixel_values.to(self.device),
                                                   video_grid_thw=grid_thw.to(self.device), return_dict=True)
        feats = torch.cat(list(out.pooler_output), dim=0)
        deep = getattr(out, "deepstack_features", None) if self.variant.deepstack else None
        if deep is not None:
            deep = tuple(torch.cat(list(d), dim=0) if isinstance(d, (list, tuple)) else d for d in deep)
        return feats, deep

    def frame_features(self, feats: torch.Tensor, grid_thw: torch.Tensor, sampled: SampledVideo) -> FrameFeatures:
        """One row per temporal group on the merged grid, timed at the group's first frame."""
        gt, gh, gw = (int(v) for v in grid_thw[0])
        m = self.pre.merge_size
        grid = (gh // m, gw // m)
        first = torch.arange(gt) * self.pre.temporal_patch_size  # sampled index of each group's first frame
        ts = torch.as_tensor(sampled.timestamps_s, dtype=torch.float64)[first.clamp(max=len(sampled.timestamps_s) - 1)]
        return FrameFeatures(feats.view(gt, grid[0] * grid[1], -1), grid, ts, first)

    # ------------------------------------------------------------------ the prompt with compression
    def prepare(self, video: str | SampledVideo, question: str, *, compressor=None, budget: int | None = None,
                fps: float | None = QWEN_FPS, num_frames: int | None = None, max_frames: int | None = None,
                progress=None) -> Prepared:
        from longvid.compress import create_compressor
        from longvid.compress.base import Query

        sampled = video if isinstance(video, SampledVideo) else self.sample(
            video, fps=fps, num_frames=num_frames, max_frames=max_frames, progress=progress)
        pv, thw = self.pixels(sampled.frames)
        feats, deep = self.video_features_deepstack(pv, thw)
        ff = self.frame_features(feats, thw, sampled)
        n_full = feats.shape[0]
        times = self.group_times(sampled.timestamps_s) if self.variant.timestamped_prompt else None
        full_ids = self.prompt_ids(question, n_full, times)
        is_video = full_ids[0] == self.video_token_id
        slots = is_video.nonzero()[:, 0]  # where each video token sits in the uncompressed sequence
        full_pos = self.rope_index(full_ids, thw, sampled.fps)
        text_tokens = int((~is_video).sum())  # of the uncompressed prompt

        if compressor is None or compressor == "none":
            vt = _all_tokens(ff)
        else:
            comp = create_compressor(compressor) if isinstance(compressor, str) else compressor
            if budget is None:
                raise BudgetError("a compressor needs a budget of visual tokens: pass budget=")
            after = full_ids[0, int(slots[-1]) + 1:]
            query = Query(text=question, embedding=self.model.get_input_embeddings()(after.to(self.device)).float()
                          .to(feats.dtype))
            with torch.inference_mode():
                vt = comp(ff, budget=budget, query=query)
        groups = ff.frame_indices.tolist().index  # group of a first-frame index
        n_cell = ff.grid[0] * ff.grid[1]
        if bool((vt.cells < 0).any()):
            raise InvalidFeaturesError(f"{compressor!r} made tokens that summarise a whole group (cell -1); on Qwen-VL "
                                       "a token needs a cell of the grid to take its position from")
        grids = vt.cell_grids.cpu() if vt.cell_grids is not None else torch.tensor(ff.grid).expand(len(vt), 2)
        g = torch.tensor([groups(int(f)) for f in vt.frame_indices.tolist()], dtype=torch.long)
        src = representative_cells(vt.cells.cpu(), grids, ff.grid)  # a merged token stands at its window's first cell
        video_rows = g * n_cell + src  # each token's place in the uncompressed video block
        if len(set(video_rows.tolist())) != len(video_rows):
            raise InvalidFeaturesError(f"{compressor!r} returned two tokens for one place (or a grid finer than the "
                                       f"merged {ff.grid}); each token needs its own position")
        if bool((video_rows.diff() < 0).any()):  # the sequence keeps the tower's order
            order = video_rows.argsort()
            video_rows = video_rows[order]
            g, grids = g[order], grids[order]
            vt = VisualTokens(vt.tokens[order.to(vt.tokens.device)], vt.frame_indices[order], vt.timestamps_s[order],
                              vt.cells[order], vt.stats, None if vt.cell_grids is None else vt.cell_grids[order])
        keep = ~is_video
        if self.variant.timestamped_prompt:  # a group with no survivor loses its timestamp and markers
            for grp in sorted(set(range(len(ff))) - set(g.tolist())):
                keep[self._segment(full_ids[0], slots, grp, n_cell)] = False
        keep[slots[video_rows]] = True
        kept = keep.nonzero()[:, 0]
        ids = full_ids[:, kept]
        with torch.inference_mode():
            embeds = self.model.get_input_embeddings()(ids.to(self.device))
            mask = ids[0].to(self.device) == self.video_token_id
            embeds[0, mask] = vt.tokens.to(embeds.dtype)
        stats = vt.stats + (StageStats("qwen_vl_groups", frames_in=len(sampled.timestamps_s), frames_out=len(ff),
                                       tokens_in=n_full, tokens_out=len(vt),
                                       note=f"{self.pre.temporal_patch_size} frames per group"),)
        vt = VisualTokens(vt.tokens, vt.frame_indices, vt.timestamps_s, vt.cells, stats,
                          vt.cell_grids if vt.cell_grids is not None else torch.tensor(ff.grid).expand(len(vt), 2))
        deep_kept = None if deep is None else tuple(
            window_means(d.view(len(ff), n_cell, -1), g, vt.cells.cpu(), grids, ff.grid) for d in deep)
        return Prepared(embeds, full_pos[:, :, kept].to(self.device), ids, vt, full_pos, kept, text_tokens,
                        len(sampled.timestamps_s), deep_kept)

    def _segment(self, ids: torch.Tensor, slots: torch.Tensor, group: int, n_cell: int) -> slice:
        """Qwen3-VL: the tokens of one group's prompt segment (its timestamp text, vision markers, pads)."""
        first, last = int(slots[group * n_cell]), int(slots[(group + 1) * n_cell - 1])
        if group > 0:
            begin = int(slots[group * n_cell - 1]) + 2  # after the previous group's pads and vision end
        else:  # after the template's own vision start, which precedes the first timestamp
            start_id = self.tokenizer.convert_tokens_to_ids(VISION_START)
            before = (ids[: first - 1] == start_id).nonzero()[:, 0]
            begin = int(before[-1]) + 1
        return slice(begin, last + 2)  # through this group's vision end

    # ------------------------------------------------------------------ generation
    @torch.inference_mode()
    def generate(self, prep: Prepared, *, max_new_tokens: int = 128, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0,
                 on_token: Callable[[int], None] | None = None) -> list[int]:
        """New token ids after the prompt (greedy by default), positions continuing the 3D ones."""
        from longvid.models.generate import stop_token_ids

        stops = set(stop_token_ids(self.tokenizer)) | token_ids(self.model.generation_config.eos_token_id)
        out = self.forward(prep.inputs_embeds, prep.position_ids, deepstack=prep.deepstack,
                           visual_mask=prep.input_ids == self.video_token_id, logits_to_keep=1)
        cache = out.cache if hasattr(out, "cache") else out.past_key_values
        nxt = int(prep.position_ids.max()) + 1  # as transformers' rope_deltas: max position + 1
        logits = out.logits[0, -1]
        new: list[int] = []
        for step in range(max_new_tokens):
            tok = pick_token(logits, do_sample, temperature, top_p)
            new.append(tok)
            if on_token is not None:
                on_token(tok)
            if tok in stops or step == max_new_tokens - 1:
                break
            pos = torch.full((3, 1, 1), nxt + step, dtype=torch.long, device=self.device)
            emb = self.model.get_input_embeddings()(torch.tensor([[tok]], device=self.device))
            out = self.forward(emb, pos, cache=cache)
            cache = out.cache if hasattr(out, "cache") else out.past_key_values
            logits = out.logits[0, -1]
        return new

    @torch.inference_mode()
    def continuation_logprobs(self, prep: Prepared, continuation: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``(n, vocab)`` predicting each of the ``n`` ``continuation`` ids after
        the prepared prompt, teacher-forced in one pass: the continuation's positions continue
        from the prompt's maximum + 1 (t = h = w), as :meth:`generate` places its answer."""
        n = int(continuation.numel())
        cont = continuation.view(1, n).to(self.device)
        embeds = torch.cat([prep.inputs_embeds, self.model.get_input_embeddings()(cont)], dim=1)
        nxt = int(prep.position_ids.max()) + 1
        pos = torch.cat([prep.position_ids, (nxt + torch.arange(n, device=self.device)).view(1, 1, n).expand(3, 1, n)],
                        dim=2)
        mask = torch.cat([prep.input_ids.to(self.device) == self.video_token_id,
                          torch.zeros(1, n, dtype=torch.bool, device=self.device)], dim=1)
        out = self.forward(embeds, pos, deepstack=prep.deepstack, visual_mask=mask, logits_to_keep=n + 1,
                           use_cache=False)
        # the logit at position p predicts token p + 1: the continuation's are the n before the last
        return out.logits[0, -n - 1:-1].float().log_softmax(-1).cpu()

    def forward(self, inputs_embeds: torch.Tensor, position_ids: torch.Tensor, *, cache=None,
                deepstack: tuple[torch.Tensor, ...] | None = None, visual_mask: torch.Tensor | None = None,
                logits_to_keep: int = 0, use_cache: bool = True):
        """One LLM step over embeddings with explicit 3D positions; logits for the last
        ``logits_to_keep`` positions only (0: all; a prefill keeps 1, not a vocabulary row per
        token). Qwen3-VL's deepstack features go in through its language model (the conditional
        model adds them only from pixels)."""
        if deepstack is None:
            return self.model(inputs_embeds=inputs_embeds, position_ids=position_ids, cache=cache,
                              use_cache=use_cache, logits_to_keep=logits_to_keep)
        from types import SimpleNamespace

        out = self.model.model.language_model(inputs_embeds=inputs_embeds, position_ids=position_ids, cache=cache,
                                              use_cache=use_cache, visual_pos_masks=visual_mask.to(self.device),
                                              deepstack_visual_embeds=list(deepstack))
        hidden = out.last_hidden_state[:, -logits_to_keep:] if logits_to_keep else out.last_hidden_state
        return SimpleNamespace(logits=self.model.lm_head(hidden), cache=getattr(out, "cache", None))


def representative_cells(cells: torch.Tensor, grids: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The position rule for merged tokens: cell ``(r, c)`` of a coarser ``(h', w')`` grid covering
    the same area as ``grid`` ``(H, W)`` stands for the source cells of rows
    ``floor(r H / h') ..`` and columns ``floor(c W / w') ..`` (adaptive pooling's windows); it takes
    the place, and so the (t, h, w) position, of the window's first (top-left) cell. A token on
    ``grid`` itself is its own representative."""
    gh, gw = grids[:, 0].long(), grids[:, 1].long()
    r, c = cells // gw, cells % gw
    return (r * grid[0] // gh) * grid[1] + c * grid[1] // gw


def window_means(x: torch.Tensor, groups: torch.Tensor, cells: torch.Tensor, grids: torch.Tensor,
                 grid: tuple[int, int]) -> torch.Tensor:
    """``x (groups, H*W, D)``: per token, the mean of ``x`` over the source window it stands for
    (``representative_cells``' windows; a token on ``grid`` gets its own row). Qwen3-VL's
    deepstack copy of a merged token."""
    H, W = grid
    out = []
    for grp, cell, (h, w) in zip(groups.tolist(), cells.tolist(), grids.tolist()):
        r, c = divmod(cell, w)
        r0, r1 = r * H // h, -(-(r + 1) * H // h)
        c0, c1 = c * W // w, -(-(c + 1) * W // w)
        out.append(x[grp].view(H, W, -1)[r0:r1, c0:c1].float().mean((0, 1)).to(x.dtype))
    return torch.stack(out) if out else x.new_zeros(0, x.shape[-1])


def token_ids(v) -> set[int]:
    """A generation config's eos id(s) as a set."""
    if v is None:
        return set()
    return {int(x) for x in (v if isinstance(v, (list, tuple)) else [v])}


def pick_token(logits: torch.Tensor, do_sample: bool, temperature: float, top_p: float) -> int:
    """Greedy, or a sample from the top-p nucleus at ``temperature``."""
    if not do_sample:
        return int(logits.argmax())
    probs = (logits.float() / temperature).softmax(-1)
    sorted_p, order = probs.sort(descending=True)
    keep = sorted_p.cumsum(-1) - sorted_p < top_p
    sorted_p = sorted_p * keep
    return int(order[torch.multinomial(sorted_p / sorted_p.sum(), 1)])


def _all_tokens(ff: FrameFeatures) -> VisualTokens:
    t, n, d = ff.features.shape
    return VisualTokens(ff.features.reshape(t * n, d), ff.frame_indices.repeat_interleave(n),
                        ff.timestamps_s.repeat_interleave(n), torch.arange(n).repeat(t),
                        (StageStats("none", t, t, t * n, t * n),), torch.tensor(ff.grid).expand(t * n, 2))
