"""The LLaVA-OneVision engine: ``ask(video, question)`` with longvid's ``Answer``, evidence and provenance.

Design decisions:
- The same surface as the other video-LLM engines (``run``/``ask``, ``on_text`` streaming, an
  ``Answer`` whose evidence are the frames that reached the LLM).
- Defaults are LLaVA-OneVision's own video setting, each in one field: 32 frames spread over
  the video, a budget of 32 x 196 video tokens (the newline is not counted). Without a
  compressor a video over the budget is refused with the numbers (never cropped silently).
- Per-question overrides (``max_new_tokens``, ``do_sample``) and ``loglikelihood`` (the
  ``ScoresLikelihood`` capability) through the same compressed path, as the Qwen-VL engine.
- Memory: the planner runs on the config before loading and refuses a model that cannot fit;
  each question checks its sampled frames (with the compressor's token count) and refuses with
  the planner's numbers.
- ``positions`` picks the position rule of the compressed sequence (see model.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from longvid.engines import check_question
from longvid.errors import BudgetError, InvalidSamplingError, ModelLoadError
from longvid.models.generate import GenerationConfig
from longvid.models.llava_onevision.model import (
    ONEVISION_MAX_VIDEO_TOKENS,
    ONEVISION_NUM_FRAMES,
    PositionRule,
)
from longvid.types import Answer, Evidence, Moment, VisualTokens

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = "llava-hf/llava-onevision-qwen2-7b-ov-hf"


@dataclass(frozen=True)
class OnevisionEngineConfig:
    num_frames: int | None = ONEVISION_NUM_FRAMES  # frames spread over the video; replaced by fps when that is given
    fps: float | None = None  # a rate instead of a count
    max_frames: int | None = None  # cap on sampled frames with a rate
    max_video_tokens: int = ONEVISION_MAX_VIDEO_TOKENS
    positions: PositionRule = "kept"
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(do_sample=False))
    evidence_frames: int = 5

    def __post_init__(self) -> None:
        if self.fps is not None and self.num_frames is not None:
            if self.num_frames != ONEVISION_NUM_FRAMES:
                raise InvalidSamplingError(f"fps={self.fps} and num_frames={self.num_frames} both given: "
                                           "sample at a rate or a fixed count, not both")
            object.__setattr__(self, "num_frames", None)  # a rate replaces the default count
        if self.max_video_tokens < 1:
            raise BudgetError(f"max_video_tokens must be >= 1, got {self.max_video_tokens}")


@dataclass(frozen=True)
class OnevisionResult:
    answer: Answer
    visual_tokens: VisualTokens
    position_ids: object  # (1, L) torch tensor
    text_tokens: int
    budget: int
    new_tokens: int


class OnevisionEngine:
    """Answers questions about a video with LLaVA-OneVision, optionally compressing before the LLM."""

    name = "llava_onevision"

    def __init__(self, model, *, config: OnevisionEngineConfig = OnevisionEngineConfig(), compressor=None,
                 plan=None, progress: Callable[[str, float, float], None] | None = None) -> None:
        self.model, self.config, self.compressor, self.progress = model, config, compressor, progress
        self.plan = plan  # MemoryPlan made before loading (None: not checked)

    def check_memory(self, video) -> None:
        """Refuse, with the planner's numbers, a video whose sampled frames would not fit."""
        if self.plan is None or self.plan.frames_that_fit is None or not isinstance(video, str):
            return
        from longvid.io.probe import probe
        from longvid.models.qwen_vl.engine import sampled_count
        from longvid.models.registry import get_family

        cfg = self.config
        info = probe(video)
        n = sampled_count(video, fps=cfg.fps, num_frames=cfg.num_frames, max_frames=cfg.max_frames, info=info)
        total = info.num_frames
        n = min(n, total) if total else n  # the model's sampler takes no more frames than the video has
        fam = get_family("llava_onevision")()
        fcfg = fam.parse_config(self.model.model.config.to_dict())
        self.plan.check(frames=n, tokens_for=lambda k: fam.planned_tokens(fcfg, k, self.compressor,
                                                                         cfg.max_video_tokens))

    def _prepare(self, video, question: str, progress=None):
        cfg = self.config
        self.check_memory(video)
        prep = self.model.prepare(video, question, compressor=self.compressor, budget=cfg.max_video_tokens,
                                  fps=cfg.fps, num_frames=cfg.num_frames, max_frames=cfg.max_frames,
                                  positions=cfg.positions, progress=progress)
        if len(prep.visual) > cfg.max_video_tokens:
            raise BudgetError(f"{len(prep.visual)} video tokens exceed max_video_tokens={cfg.max_video_tokens}: "
                              "sample fewer frames (num_frames) or pass a compressor (longvu_temporal, uniform)")
        return prep

    def run(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None,
            max_new_tokens: int | None = None, do_sample: bool | None = None) -> OnevisionResult:
        """Everything about one answer; ``max_new_tokens`` / ``do_sample`` override the engine's
        generation settings for this question only."""
        from longvid.models.qwen_vl.engine import generate_text

        question = check_question(question)
        cfg, m = self.config, self.model
        t0 = time.perf_counter()
        progress = None if self.progress is None else (lambda d, t: self.progress("visual", d, t))
        prep = self._prepare(video, question, progress)
        t1 = time.perf_counter()
        ids, text = generate_text(m, prep, cfg.generation, on_text=on_text, max_new_tokens=max_new_tokens,
                                  do_sample=do_sample)
        logger.info("llava_onevision: %d video tokens + 1 newline (%s)", len(prep.visual),
                    "; ".join(f"{s.stage} {s.tokens_in}->{s.tokens_out}" for s in prep.visual.stats))
        answer = Answer(question=question, text=text, evidence=self._evidence(prep.visual, video), grounded=False,
                        engine=self.name, timings_s={"visual_s": t1 - t0, "generate_s": time.perf_counter() - t1})
        return OnevisionResult(answer, prep.visual, prep.position_ids, prep.text_tokens, cfg.max_video_tokens, len(ids))

    def ask(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None,
            max_new_tokens: int | None = None, do_sample: bool | None = None) -> Answer:
        return self.run(video, question, on_text=on_text, max_new_tokens=max_new_tokens, do_sample=do_sample).answer

    def loglikelihood(self, video: str, context: str, continuation: str, *,
                      per_token: bool = False) -> tuple[float, bool]:
        """Log-probability of ``continuation`` as the answer to ``context`` (summed over its
        tokens; their mean with ``per_token``), and whether greedy decoding gives it, through the
        same compressed path as :meth:`run` (the compressor's query is the context only)."""
        from longvid.models.qwen_vl.engine import score

        return score(self.model, self._prepare(video, check_question(context)), continuation, per_token)

    def _evidence(self, vt: VisualTokens, video: str) -> tuple[Evidence, ...]:
        per = vt.tokens_per_frame()
        ts = {int(f): float(t) for f, t in zip(vt.frame_indices.tolist(), vt.timestamps_s.tolist())}
        top = sorted(per, key=lambda f: (-per[f], f))[: self.config.evidence_frames]
        return tuple(Evidence(Moment(ts[f], ts[f], video=video, score=float(per[f])),
                              extra={"frame_index": f, "visual_tokens": per[f]}) for f in sorted(top))


def load_onevision_engine(model: str = DEFAULT_CHECKPOINT, *, device: str = "cpu", dtype=None, compressor=None,
                          progress=None, check_memory: bool = True, vision_towers=None,
                          **engine_options) -> OnevisionEngine:
    """A ready engine for a LLaVA-OneVision folder or hub id; ``engine_options`` fill
    :class:`OnevisionEngineConfig`. The memory planner runs on the config before any weight is
    loaded (``check_memory=False`` skips it)."""
    if vision_towers:
        raise ModelLoadError(f"{model}: vision_towers applies to checkpoints that name their towers; "
                             "this family's tower is part of its transformers model")
    from longvid.models.llava_onevision.model import OnevisionModel
    from longvid.models.qwen_vl.engine import native_plan

    config = OnevisionEngineConfig(**engine_options)
    plan = native_plan(model, device=device, dtype=dtype) if check_memory else None
    return OnevisionEngine(OnevisionModel.from_pretrained(model, device=device, dtype=dtype), config=config,
                           compressor=compressor, plan=plan, progress=progress)
