"""LLaMA-VID as a model: EVA-ViT-G per frame, two tokens per frame chosen by the question, Vicuna.

Design decisions:
- Frames are sampled (1 fps by default, the long-video recipe), encoded by EVA once and cached
  on disk by content (:mod:`longvid.models.llama_vid.cache`); the question then goes through
  the Q-Former for every frame, so a second question on the same video costs the Q-Former and
  the LLM only. ``encoder.calls`` counts EVA passes.
- Every frame gives its context token then its content token(s) (``mean``: one; ``grid:N``:
  the pooled grid, row-major). Provenance: the context and mean tokens summarise the frame
  (cell -1); grid tokens carry their cell on the pooled grid.
- LLaMA-VID does not compress further: every frame grows the sequence. Over the budget, frames
  are subsampled evenly *before* the Q-Former (it is the expensive part) and the stats say so.
- The prompt is the released ``vicuna_v1`` conversation (a fixed system line, ``USER:`` /
  ``ASSISTANT:``), set as the tokenizer's chat template when the tokenizer has none (Vicuna's
  has none).
- Subtitles or speech: :meth:`LlamaVidModel.frame_texts` gives each frame the cues that start
  between it and the next sampled frame (``transcript``: the video's subtitles, else its speech
  transcribed by longvid's recogniser; see :mod:`.transcript`); :class:`LlamaVidEngine` places
  them as text right after that frame's tokens, as the original's long-video recipe does, in
  ``run`` and ``loglikelihood`` alike.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch

from longvid.engines import check_question
from longvid.errors import BudgetError
from longvid.models.engine import EngineResult, VideoLLMEngine, check_fits
from longvid.models.generate import generate
from longvid.models.llama_vid.cache import CachedFrames, FeatureCache, weights_fingerprint
from longvid.models.llama_vid.config import LlamaVidConfig
from longvid.models.llama_vid.modules import LlamaVidConnector
from longvid.models.llama_vid.transcript import (DEFAULT_TRANSCRIPT, Transcript, assign_to_frames, check_transcript,
                                                 read_cues)
from longvid.models.prompt import PromptParts, build_prompt
from longvid.models.video_llm import VideoLLM, video_progress
from longvid.types import Answer, StageStats, VisualTokens

logger = logging.getLogger(__name__)

VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
# the released vicuna_v1 conversation; a system message given by the caller is not used (the
# model was trained with this one)
VICUNA_TEMPLATE = (
    "{{ bos_token }}" + VICUNA_SYSTEM +
    "{% for m in messages %}{% if m['role'] == 'user' %} USER: {{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %} ASSISTANT: {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %} ASSISTANT:{% endif %}"
)
QFORMER_MAX_TEXT = 256  # the original truncates the question (from the left) to 256 BERT tokens


@dataclass
class LlamaVidModel(VideoLLM):
    config: LlamaVidConfig
    connector: LlamaVidConnector

    family = "llama_vid"
    per_frame_tokens = True  # each frame's tokens depend on that frame and the question only
    qformer_tokenizer: object = None
    feature_cache: FeatureCache | None = None

    def __post_init__(self) -> None:
        if not getattr(self.tokenizer, "chat_template", None):
            self.tokenizer.chat_template = VICUNA_TEMPLATE
        if self.feature_cache is None:
            self.feature_cache = FeatureCache()

    @property
    def encoder(self):
        return self.encoders[0]

    @property
    def token_grid(self) -> tuple[int, int]:
        return 1, self.config.tokens_per_frame

    def default_compressor(self):
        from longvid.compress import create_compressor

        return create_compressor("uniform")

    def memory_frames(self, num_frames: int, budget: int, compressor=None) -> int:
        return min(num_frames, max(0, budget // self.config.tokens_per_frame))

    # ------------------------------------------------------------------ encoder stage (cached)
    def encoder_identity(self) -> str:
        e = self.config.eva
        return f"eva_vit_g/{e.image_size}/{e.width}x{e.depth}/{weights_fingerprint(self.encoder.model)}"

    def frame_features(self, video: str, *, fps, num_frames, max_frames, progress=None) -> CachedFrames:
        """EVA tokens of the sampled frames, from the cache when this video was encoded before."""
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, sample_frames

        scfg = SamplingConfig(fps=fps, num_frames=num_frames, max_frames=max_frames)
        sampling = {"fps": scfg.fps, "num_frames": scfg.num_frames, "max_frames": scfg.max_frames, "mode": scfg.mode}
        cache = self.feature_cache or FeatureCache(None)
        key = cache.key(video, sampling, self.encoder_identity()) if cache.folder is not None else ""
        hit = cache.get(key) if key else None
        if hit is not None:
            return hit
        info = probe(video)
        toks, ts, idx = [], [], []
        for batch in sample_frames(video, scfg, video_progress(progress), info=info):
            toks.append(self.encoder.encode_tokens(batch))
            ts.append(torch.as_tensor(batch.timestamps_s, dtype=torch.float64))
            idx.append(torch.as_tensor(batch.indices, dtype=torch.long))
        if not toks:
            from longvid.errors import VideoTooShortError

            raise VideoTooShortError(f"{video} gave no frames to encode")
        out = CachedFrames(torch.cat(toks), torch.cat(ts), torch.cat(idx))
        if key:
            cache.put(key, out)
        return out

    # ------------------------------------------------------------------ question-dependent stage
    def question_ids(self, question: str) -> tuple[torch.Tensor, torch.Tensor]:
        tok = self.qformer_tokenizer
        enc = tok([question], padding="longest", truncation=True, max_length=QFORMER_MAX_TEXT, return_tensors="pt")
        dev = self.connector.vlm_att_query.device
        return enc["input_ids"].to(dev), enc["attention_mask"].to(dev)

    @torch.inference_mode()
    def tokens_for(self, frames: torch.Tensor, question: str) -> torch.Tensor:
        """``(T, tokens_per_frame, H)``: each frame's context then content tokens for ``question``."""
        ids, mask = self.question_ids(question)
        return self.connector(frames.to(self.connector.vlm_att_query.device), ids, mask)

    def video_tokens(self, video: str, *, question: str, query_ids=None, budget: int,
                     fps, num_frames, max_frames, compressor=None, progress=None) -> VisualTokens:
        if compressor is not None:
            logger.warning("llama_vid makes its own two tokens per frame; compressor %r is not used", compressor)
        t0 = time.perf_counter()
        calls = self.encoder.calls
        feats = self.frame_features(video, fps=fps, num_frames=num_frames, max_frames=max_frames, progress=progress)
        t_enc = time.perf_counter() - t0
        n, per = len(feats.tokens), self.config.tokens_per_frame
        keep = min(n, max(0, budget // per))
        if keep < 1:
            from longvid.errors import BudgetError

            raise BudgetError(f"a budget of {budget} tokens holds no frame at {per} tokens a frame")
        pick = torch.arange(n) if keep == n else torch.linspace(0, n - 1, keep).round().long()
        t1 = time.perf_counter()
        tok = self.tokens_for(feats.tokens[pick], question)
        m = keep * per
        frame_idx, times, cells, grids = self.provenance(feats.frame_indices[pick], feats.timestamps_s[pick])
        enc_note = "from the feature cache" if self.encoder.calls == calls else f"{self.encoder.calls - calls} EVA passes"
        stats = (StageStats("encode", n, n, n * feats.tokens.shape[1], n * feats.tokens.shape[1], t_enc,
                            f"EVA-ViT-G, {enc_note}"),
                 StageStats("frames", n, keep, n * per, m, 0.0,
                            "all frames" if keep == n else f"{keep} of {n} frames, evenly, to fit {budget} tokens"),
                 StageStats("qformer", keep, keep, keep * feats.tokens.shape[1], m, time.perf_counter() - t1,
                            f"context + {per - 1} content token(s) per frame ({self.config.compress_type})"))
        return VisualTokens(tok.reshape(m, -1), frame_idx, times, cells, stats, grids)

    def provenance(self, frame_indices: torch.Tensor, timestamps_s: torch.Tensor):
        """Per token: frame index, time, cell (-1: the whole frame) and grid, for ``T`` frames."""
        per, keep = self.config.tokens_per_frame, len(frame_indices)
        frame_idx = frame_indices.repeat_interleave(per)
        times = timestamps_s.repeat_interleave(per)
        side = self.config.content_side
        if side is None:
            cells = torch.full((keep * per,), -1, dtype=torch.long)
            grids = torch.ones(keep * per, 2, dtype=torch.long)
        else:
            cells = torch.cat([torch.tensor([-1]), torch.arange(side * side)]).repeat(keep)
            grids = torch.tensor([[1, 1]] + [[side, side]] * (side * side)).repeat(keep, 1)
        return frame_idx, times, cells, grids

    def image_tokens(self, image, question: str) -> VisualTokens:
        """One still image (``(H, W, 3)`` uint8 RGB) as a frame at time 0: its context token for
        ``question``, then its content token(s). ``ask`` on an image file takes the same path
        (the file decodes as a one-frame video)."""
        import numpy as np

        from longvid.types import FrameBatch

        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"an image is (H, W, 3) uint8 RGB, got {arr.shape} {arr.dtype}")
        zero = np.zeros(1)
        batch = FrameBatch(arr[None], zero, zero, np.zeros(1, dtype=np.int64))
        t0 = time.perf_counter()
        tok = self.tokens_for(self.encoder.encode_tokens(batch), question)
        per = self.config.tokens_per_frame
        frame_idx, times, cells, grids = self.provenance(torch.zeros(1, dtype=torch.long),
                                                         torch.zeros(1, dtype=torch.float64))
        stats = (StageStats("qformer", 1, 1, int(self.config.eva.grid ** 2 + 1), per, time.perf_counter() - t0,
                            f"one image: context + {per - 1} content token(s) ({self.config.compress_type})"),)
        return VisualTokens(tok.reshape(per, -1), frame_idx, times, cells, stats, grids)

    # ------------------------------------------------------------------ subtitles / speech
    def frame_texts(self, video: str, vt: VisualTokens, transcript: Transcript = DEFAULT_TRANSCRIPT) -> dict[int, str]:
        """Text to place after each frame's tokens: the cues starting from that frame up to the
        next one (cues before the first frame go to the first); see :mod:`.transcript`."""
        return self.timed_texts(video, vt, transcript)[0]

    def timed_texts(self, video: str, vt: VisualTokens, transcript: Transcript) -> tuple[dict[int, str], str]:
        """(``{frame index: text}``, the source used: ``subtitles``, ``speech`` or ``none``)."""
        cues, source = read_cues(video, transcript, cache=self.feature_cache)
        frames = zip(vt.timestamps_s.tolist(), vt.frame_indices.tolist())
        return assign_to_frames(cues, ((float(t), int(f)) for t, f in frames)), source


@dataclass(frozen=True)
class LlamaVidResult(EngineResult):
    transcript: str = "none"  # where the interleaved text came from: subtitles, speech or none
    texts: dict = field(default_factory=dict)  # {frame index: the text placed after its tokens (before any cut)}


class LlamaVidEngine(VideoLLMEngine):
    """The shared video-LLM engine, with subtitles or the speech transcript after each frame's tokens.

    ``transcript``: ``"auto"`` (subtitles, else speech), ``"subtitles"``, ``"speech"`` or
    ``"none"`` (see :mod:`longvid.models.llama_vid.transcript`).
    """

    def __init__(self, model, *, transcript: Transcript = DEFAULT_TRANSCRIPT, **kw) -> None:
        super().__init__(model, **kw)
        self.transcript = check_transcript(transcript)

    def sequence(self, video: str, context: str, continuation_ids: torch.Tensor | None = None):
        """The LLM's input for ``context`` (and a continuation to score): ``(embeds, vt, parts,
        budget, placed, texts, source)``. The Q-Former reads the context only."""
        m, cfg = self.model, self.config
        extra = 0 if continuation_ids is None else int(continuation_ids.numel())
        parts = build_prompt(m.tokenizer, context, system=cfg.system, date_string=cfg.date_string)
        budget = m.context_budget(parts.num_text_tokens + extra, cfg.context_length)
        if budget < 1:
            raise BudgetError(f"the prompt takes {parts.num_text_tokens + extra} tokens, leaving {budget} of the "
                              "context for the video; shorten the question or raise context_length")
        self.check_memory(video, budget)
        vt = m.video_tokens(video, question=context, budget=budget, fps=cfg.fps, num_frames=cfg.num_frames,
                            max_frames=cfg.max_frames, progress=self.progress)
        check_fits(vt, budget, m.compressor(None))
        texts, source = m.timed_texts(video, vt, self.transcript)
        if continuation_ids is not None:
            parts = PromptParts(parts.text, parts.before_ids, torch.cat([parts.after_ids, continuation_ids]))
        embeds, placed = interleave(m, parts, vt, texts, budget)
        return embeds, vt, parts, budget, placed, texts, source

    def run(self, video: str, question: str, *, on_text=None, max_new_tokens: int | None = None,
            do_sample: bool | None = None) -> LlamaVidResult:
        question = check_question(question)
        m = self.model
        t0 = time.perf_counter()
        embeds, vt, parts, budget, placed, texts, source = self.sequence(video, question)
        visual_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        gen = self.generation_for(max_new_tokens=max_new_tokens, do_sample=do_sample)
        text, n_new = generate(m.llm, m.tokenizer, embeds, mask, gen, on_text)
        answer = Answer(question=question, text=text, evidence=self._evidence(vt, video), grounded=False,
                        engine=self.name, timings_s={"visual_s": visual_s, "generate_s": time.perf_counter() - t1})
        return LlamaVidResult(answer, vt, parts.num_text_tokens + placed, budget, n_new, source, texts)

    def loglikelihood(self, video: str, context: str, continuation: str, *,
                      per_token: bool = False) -> tuple[float, bool]:
        """As :meth:`VideoLLMEngine.loglikelihood`, on the same interleaved sequence ``run`` builds
        (subtitles or speech after each frame), the continuation right after the generation prompt."""
        m = self.model
        cont = torch.tensor(m.tokenizer(continuation, add_special_tokens=False)["input_ids"], dtype=torch.long)
        if cont.numel() == 0:
            raise ValueError("the continuation is empty after tokenization; nothing to score")
        embeds = self.sequence(video, context, cont)[0]
        with torch.inference_mode():
            logits = m.llm(inputs_embeds=embeds).logits[0]
        n = cont.numel()
        logp = logits[-n - 1:-1].float().log_softmax(-1).cpu()  # position p predicts token p + 1
        total = float(logp.gather(1, cont[:, None]).sum())
        return (total / n if per_token else total), bool((logp.argmax(-1) == cont).all())


@torch.inference_mode()
def interleave(model: LlamaVidModel, parts, vt: VisualTokens, texts: dict[int, str], budget: int):
    """``[before, frame 1 tokens, its subtitles, frame 2 tokens, ..., after]`` as ``(1, L, H)``
    embeddings, and the number of subtitle tokens placed (cut when they would overflow the budget)."""
    emb = model.llm.get_input_embeddings()
    dev, dt = emb.weight.device, emb.weight.dtype
    pieces = [emb(parts.before_ids.to(dev))]
    room = budget - len(vt)
    placed = 0
    fi = vt.frame_indices.tolist()
    start = 0
    for i in range(1, len(fi) + 1):
        if i < len(fi) and fi[i] == fi[start]:
            continue
        pieces.append(vt.tokens[start:i].to(device=dev, dtype=dt))
        text = texts.get(fi[start])
        if text:
            ids = model.tokenizer(" " + text, add_special_tokens=False)["input_ids"][:max(0, room - placed)]
            if ids:
                pieces.append(emb(torch.tensor(ids, dtype=torch.long, device=dev)))
                placed += len(ids)
        start = i
    pieces.append(emb(parts.after_ids.to(dev)))
    return torch.cat(pieces)[None], placed


# the engine a loader should build for this model (subtitles or speech interleaved); see docs/llama_vid.md
LlamaVidModel.engine_class = LlamaVidEngine
