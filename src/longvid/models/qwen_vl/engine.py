"""The Qwen-VL engine (Qwen2-VL, Qwen2.5-VL): ``ask(video, question)`` with longvid's ``Answer``, evidence and provenance.

Design decisions:
- The same surface as the other video-LLM engines (``run``/``ask``, ``on_text`` streaming, an
  ``Answer`` whose evidence are the frames that reached the LLM); the model object is
  :class:`~longvid.models.qwen_vl.model.QwenVLModel`, transformers' own classes underneath.
- Defaults are Qwen-VL's own video defaults (the same for both generations), each in one field: 2 fps, at most 768 frames,
  24,576 video tokens. Without a compressor a video over the token budget is refused with the
  numbers (never cropped silently); with one, the budget is the compressor's.
- Per-question overrides (``max_new_tokens``, ``do_sample``), as the other video-LLM engines
  take them from an evaluation harness; ``loglikelihood`` scores a given continuation through
  the same compressed path (``longvid.engines.ScoresLikelihood``).
- Memory: ``load_qwen_vl_engine`` asks the planner (``longvid.models.memory``) before any weight
  is loaded and refuses a model that cannot fit; each question then checks its sampled frame
  count, with the LLM tokens the compressor gives them, and refuses with the planner's numbers.
- Evidence: the groups with the most surviving tokens; each cites both frames of its temporal
  group (the group's first frame's time, and ``frame_indices`` of the pair in ``extra``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from longvid.engines import check_question
from longvid.errors import BudgetError, InvalidSamplingError, ModelLoadError
from longvid.models.generate import GenerationConfig
from longvid.models.qwen_vl.model import QWEN_FPS, QWEN_MAX_FRAMES, QWEN_MAX_VIDEO_TOKENS
from longvid.models.qwen_vl.variants import VARIANTS
from longvid.types import Answer, Evidence, Moment, VisualTokens

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QwenVLEngineConfig:
    fps: float | None = QWEN_FPS  # Qwen-VL's processor default; replaced by num_frames when that is given
    num_frames: int | None = None  # a fixed count instead of a rate
    max_frames: int | None = QWEN_MAX_FRAMES  # Qwen-VL's default cap on sampled frames
    max_video_tokens: int = QWEN_MAX_VIDEO_TOKENS  # Qwen-VL's own default budget of video tokens
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(do_sample=False))
    evidence_frames: int = 5

    def __post_init__(self) -> None:
        if self.num_frames is not None and self.fps is not None:
            if self.fps != QWEN_FPS:
                raise InvalidSamplingError(f"fps={self.fps} and num_frames={self.num_frames} both given: "
                                           "sample at a rate or a fixed count, not both")
            object.__setattr__(self, "fps", None)  # a count replaces the default rate
        if self.max_video_tokens < 1:
            raise BudgetError(f"max_video_tokens must be >= 1, got {self.max_video_tokens}")


@dataclass(frozen=True)
class QwenVLResult:
    answer: Answer
    visual_tokens: VisualTokens
    position_ids: object  # (3, 1, L) torch tensor: the rotary positions the LLM saw
    text_tokens: int
    budget: int
    new_tokens: int


class QwenVLEngine:
    """Answers questions about a video with Qwen2-VL / Qwen2.5-VL, optionally compressing between tower and LLM."""

    def __init__(self, model, *, config: QwenVLEngineConfig = QwenVLEngineConfig(), compressor=None, plan=None,
                 progress: Callable[[str, float, float], None] | None = None) -> None:
        self.name = model.family  # the engine's name is its family's: qwen2_vl, qwen2_5_vl
        self.model = model
        self.config = config
        self.compressor = compressor
        self.plan = plan  # MemoryPlan made before loading (None: not checked)
        self.progress = progress

    def check_memory(self, video) -> None:
        """Refuse, with the planner's numbers, a video whose sampled frames would not fit."""
        if self.plan is None or self.plan.frames_that_fit is None or not isinstance(video, str):
            return
        from longvid.io.probe import probe
        from longvid.models.registry import get_family

        cfg, pre = self.config, self.model.pre
        info = probe(video)
        n = sampled_count(video, fps=cfg.fps, num_frames=cfg.num_frames, max_frames=cfg.max_frames, info=info)
        hw = (info.width, info.height) if info.rotation in (90, 270) else (info.height, info.width)
        fam = get_family(self.model.family)()
        fcfg = fam.parse_config(self.model.model.config.to_dict())

        def tokens_for(k: int) -> int:  # the LLM's tokens for k frames of this video at its processor size
            grid = pre.merged_grid(*hw, k if pre.video_budget else None)
            return fam.planned_tokens(fcfg, k, self.compressor, cfg.max_video_tokens, grid=grid)

        self.plan.check(frames=n, tokens_for=tokens_for)

    def _prepare(self, video, question: str, progress=None):
        cfg = self.config
        self.check_memory(video)
        prep = self.model.prepare(video, question, compressor=self.compressor, budget=cfg.max_video_tokens,
                                  fps=cfg.fps, num_frames=cfg.num_frames, max_frames=cfg.max_frames,
                                  progress=progress)
        if len(prep.visual) > cfg.max_video_tokens:
            raise BudgetError(f"{len(prep.visual)} video tokens exceed max_video_tokens={cfg.max_video_tokens}: "
                              "sample fewer frames (fps, max_frames) or pass a compressor (longvu_temporal)")
        return prep

    def run(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None,
            max_new_tokens: int | None = None, do_sample: bool | None = None) -> QwenVLResult:
        """Everything about one answer; ``max_new_tokens`` / ``do_sample`` override the engine's
        generation settings for this question only."""
        question = check_question(question)
        cfg, m = self.config, self.model
        t0 = time.perf_counter()
        progress = None if self.progress is None else (lambda d, t: self.progress("visual", d, t))
        prep = self._prepare(video, question, progress)
        t1 = time.perf_counter()
        ids, text = generate_text(m, prep, cfg.generation, on_text=on_text, max_new_tokens=max_new_tokens,
                                  do_sample=do_sample)
        timings = {"visual_s": t1 - t0, "generate_s": time.perf_counter() - t1}
        logger.info("%s: %d visual tokens (%s)", self.name, len(prep.visual),
                    "; ".join(f"{s.stage} {s.tokens_in}->{s.tokens_out}" for s in prep.visual.stats))
        answer = Answer(question=question, text=text, evidence=self._evidence(prep.visual, video, prep.num_frames), grounded=False,
                        engine=self.name, timings_s=timings)
        return QwenVLResult(answer, prep.visual, prep.position_ids, prep.text_tokens, cfg.max_video_tokens, len(ids))

    def ask(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None,
            max_new_tokens: int | None = None, do_sample: bool | None = None) -> Answer:
        return self.run(video, question, on_text=on_text, max_new_tokens=max_new_tokens, do_sample=do_sample).answer

    def loglikelihood(self, video: str, context: str, continuation: str, *,
                      per_token: bool = False) -> tuple[float, bool]:
        """Log-probability of ``continuation`` as the answer to ``context`` (summed over its
        tokens; their mean with ``per_token``), and whether greedy decoding gives it. The video
        goes through the same compressed path as :meth:`run`; the compressor's query is the
        context only, so the answer cannot steer which tokens the model sees."""
        return score(self.model, self._prepare(video, check_question(context)), continuation, per_token)

    def _evidence(self, vt: VisualTokens, video: str, num_frames: int) -> tuple[Evidence, ...]:
        per = vt.tokens_per_frame()
        ts = {int(f): float(t) for f, t in zip(vt.frame_indices.tolist(), vt.timestamps_s.tolist())}
        top = sorted(per, key=lambda f: (-per[f], f))[: self.config.evidence_frames]
        tp = self.model.pre.temporal_patch_size
        return tuple(Evidence(Moment(ts[f], ts[f], video=video, score=float(per[f])),
                              extra={"frame_index": f, "frame_indices": list(range(f, min(f + tp, num_frames))),
                                     "visual_tokens": per[f]}) for f in sorted(top))


def generate_text(model, prep, generation: GenerationConfig, *, on_text: Callable[[str], None] | None,
                  max_new_tokens: int | None, do_sample: bool | None) -> tuple[list[int], str]:
    """(new token ids, their text) for a prepared prompt, with one question's overrides;
    ``on_text`` gets the text as it is generated. Shared by the transformers-native engines."""
    streamer = TextStream(model.tokenizer, on_text) if on_text is not None else None
    g = generation_with(generation, max_new_tokens=max_new_tokens, do_sample=do_sample)
    ids = model.generate(prep, max_new_tokens=g.max_new_tokens, do_sample=g.do_sample, temperature=g.temperature,
                         top_p=g.top_p, on_token=streamer.put if streamer else None)
    return ids, model.tokenizer.decode(ids, skip_special_tokens=True)


def generation_with(gen: GenerationConfig, *, max_new_tokens: int | None = None,
                    do_sample: bool | None = None) -> GenerationConfig:
    """``gen`` with one question's overrides (None: keep)."""
    import dataclasses

    overrides = {k: v for k, v in (("max_new_tokens", max_new_tokens), ("do_sample", do_sample)) if v is not None}
    return dataclasses.replace(gen, **overrides) if overrides else gen


def sampled_count(video: str, *, fps: float | None, num_frames: int | None, max_frames: int | None,
                  info=None) -> int:
    """How many frames longvid's sampler takes from ``video`` (from its probe; nothing is decoded)."""
    from longvid.io.probe import probe
    from longvid.io.sampling import SamplingConfig, plan_targets

    info = info or probe(video)
    return len(plan_targets(info, SamplingConfig(fps=fps, num_frames=num_frames, max_frames=max_frames)))


def score(model, prep, continuation: str, per_token: bool) -> tuple[float, bool]:
    """(log-probability of ``continuation`` after ``prep``, greedy?) through the model's
    ``continuation_logprobs`` (summed, or the mean with ``per_token``)."""
    import torch

    cont = torch.tensor(model.tokenizer(continuation, add_special_tokens=False)["input_ids"], dtype=torch.long)
    if cont.numel() == 0:
        raise ValueError("the continuation is empty after tokenization; nothing to score")
    logp = model.continuation_logprobs(prep, cont)
    total = float(logp.gather(1, cont[:, None]).sum())
    return (total / cont.numel() if per_token else total), bool((logp.argmax(-1) == cont).all())


class TextStream:
    """Calls ``on_text`` with each new piece of decoded text (full decode, new suffix only)."""

    def __init__(self, tokenizer, on_text: Callable[[str], None]) -> None:
        self.tokenizer, self.on_text, self.ids, self.emitted = tokenizer, on_text, [], ""

    def put(self, tok: int) -> None:
        self.ids.append(tok)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if not text.endswith("\ufffd") and len(text) > len(self.emitted) and text.startswith(self.emitted):
            self.on_text(text[len(self.emitted):])
            self.emitted = text


def load_qwen_vl_engine(model: str = VARIANTS["qwen2_5_vl"].default_checkpoint, *, device: str = "cpu", dtype=None,
                        compressor=None, progress=None, check_memory: bool = True,
                        vision_towers=None, **engine_options) -> QwenVLEngine:
    """A ready engine for a Qwen2-VL, Qwen2.5-VL or Qwen3-VL folder or hub id (its ``model_type``
    picks which); ``engine_options`` fill :class:`QwenVLEngineConfig`. The memory planner runs on
    the config before any weight is loaded (``check_memory=False`` skips it)."""
    if vision_towers:
        raise ModelLoadError(f"{model}: vision_towers applies to checkpoints that name their towers; "
                             "this family's tower is part of its transformers model")
    from longvid.models.qwen_vl.model import QwenVLModel

    config = QwenVLEngineConfig(**engine_options)
    plan = native_plan(model, device=device, dtype=dtype) if check_memory else None
    return QwenVLEngine(QwenVLModel.from_pretrained(model, device=device, dtype=dtype), config=config,
                        compressor=compressor, plan=plan, progress=progress)


def native_plan(model: str, *, device: str, dtype=None):
    """The checked :class:`~longvid.models.memory.MemoryPlan` of a transformers-native checkpoint,
    from its ``config.json`` alone (the family claiming its model_type)."""
    from longvid.models.checkpoint import read_config, resolve_model_dir
    from longvid.models.memory import plan_for_config

    raw = read_config(resolve_model_dir(str(model)))
    return plan_for_config(raw, None, device=device, dtype=dtype).check()
