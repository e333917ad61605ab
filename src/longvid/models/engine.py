"""Video-LLM engines (LongVU, LongVA): ``load_engine(model)`` and the ``longvu``/``longva`` engines.

Design decisions:
- ``load_engine(model)`` takes a hub id or a folder; the shared loader
  (``longvid.models.loader.build_model``) reads its ``config.json`` and picks the family that
  claims its ``model_type`` in the ``FAMILIES`` registry (never from the model's name); a family
  can also be forced. The memory planner runs on the config *before* any weight is loaded and
  refuses, with its numbers, when the model cannot fit the device.
- One engine class serves every family: sample -> encode -> compress -> splice -> generate. The
  family's model (a ``VideoLLM``) supplies ``video_tokens`` (frames to budget-fitting
  ``VisualTokens``), the embedding table, the budget rule and, through its compressor, how many
  frames the memory plan must hold; the prompt, splice and generation are shared. One engine is
  registered per family, under the family's name.
- Sampling is ``fps`` or ``num_frames``, never both: giving both is an ``InvalidSamplingError``;
  with neither, the io sampler's default rate applies.
- ``ask`` returns an :class:`~longvid.types.Answer` whose evidence are the frames that reached the
  LLM at the highest resolution; ``run`` returns everything (tokens with provenance, prompt sizes).
  ``on_text`` streams the answer as it is generated.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from longvid.engines import ENGINES, check_question
from longvid.errors import BudgetError, InvalidSamplingError, ModelLoadError
from longvid.io.sampling import DEFAULT_FPS
from longvid.models.generate import GenerationConfig
from longvid.models.prompt import DEFAULT_SYSTEM, RELEASED_DATE_STRING
from longvid.models.registry import list_families
from longvid.types import Answer, Evidence, Moment, VisualTokens

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    # samples per second; None: the io sampler's default rate (1 fps, the LongVU demo), unless num_frames is given
    fps: float | None = None
    num_frames: int | None = None  # a fixed count spread over the video (LongVA demos); excludes fps
    max_frames: int | None = None  # cap before compression (None: LongVU has none)
    context_length: int | None = None  # None: the model's own (8192 for LongVU releases)
    system: str = DEFAULT_SYSTEM  # system prompt of the released Qwen2 conversation template
    date_string: str | None = RELEASED_DATE_STRING  # Llama-3.2 template date line; None: today's date
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    evidence_frames: int = 5  # frames cited in Answer.evidence

    def __post_init__(self) -> None:
        if self.fps is not None and self.num_frames is not None:
            raise InvalidSamplingError(
                f"fps={self.fps} and num_frames={self.num_frames} both given: sample at a rate (fps) or a "
                "fixed count (num_frames), not both"
            )
        if self.fps is None and self.num_frames is None:  # the one default rate is the sampler's
            object.__setattr__(self, "fps", DEFAULT_FPS)


@dataclass(frozen=True)
class EngineResult:
    answer: Answer
    visual_tokens: VisualTokens  # exactly what was spliced where <image> stood
    text_tokens: int
    budget: int
    new_tokens: int


class VideoLLMEngine:
    """Answers questions about a video with a video-LLM (any registered family)."""

    def __init__(self, model, *, config: EngineConfig = EngineConfig(), compressor=None, plan=None,
                 progress: Callable[[str, float, float], None] | None = None) -> None:
        self.model = model
        self.progress = progress  # progress(stage, done, total): "visual" in seconds of video
        self.name = model.family
        self.config = config
        self.compressor = compressor
        self.plan = plan  # MemoryPlan made before loading (None: not checked)

    def generation_for(self, *, max_new_tokens: int | None = None, do_sample: bool | None = None) -> GenerationConfig:
        """The engine's generation settings with one question's overrides (None: keep)."""
        import dataclasses

        overrides = {k: v for k, v in (("max_new_tokens", max_new_tokens), ("do_sample", do_sample)) if v is not None}
        return dataclasses.replace(self.config.generation, **overrides) if overrides else self.config.generation

    def check_memory(self, video: str, budget: int) -> None:
        """Refuse, with the planner's numbers, a video whose sampled frames would not fit."""
        if self.plan is None or self.plan.frames_that_fit is None:
            return
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, plan_targets

        cfg = self.config
        n = len(plan_targets(probe(video), SamplingConfig(fps=cfg.fps, num_frames=cfg.num_frames,
                                                          max_frames=cfg.max_frames)))
        self.plan.check(frames=self.model.memory_frames(n, budget, self.compressor))

    def run(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None,
            max_new_tokens: int | None = None, do_sample: bool | None = None) -> EngineResult:
        """Everything about one answer. ``max_new_tokens`` / ``do_sample`` override the engine's
        generation settings for this question only (an evaluation harness's per-task settings)."""
        import torch

        from longvid.models.generate import generate
        from longvid.models.prompt import build_prompt, splice

        question = check_question(question)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        m, cfg = self.model, self.config
        parts = build_prompt(m.tokenizer, question, system=cfg.system, date_string=cfg.date_string)
        budget = m.context_budget(parts.num_text_tokens, cfg.context_length)
        if budget < 1:
            raise BudgetError(f"the prompt takes {parts.num_text_tokens} tokens, leaving {budget} of the "
                              f"context for the video; shorten the question or raise context_length")
        self.check_memory(video, budget)
        vt = m.video_tokens(video, question=question, query_ids=parts.after_ids, budget=budget,
                            fps=cfg.fps, num_frames=cfg.num_frames, max_frames=cfg.max_frames,
                            compressor=self.compressor, progress=self.progress)
        check_fits(vt, budget, self.model.compressor(self.compressor))
        logger.info("%s: %d visual tokens of a %d-token budget from %d frames; %s", self.name, len(vt), budget,
                    len(vt.tokens_per_frame()), "; ".join(f"{s.stage} {s.tokens_in}->{s.tokens_out}"
                                                           for s in vt.stats))
        timings["visual_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        with torch.inference_mode():
            embeds, mask = splice(m.llm.get_input_embeddings(), parts, vt.tokens)
        gen = self.generation_for(max_new_tokens=max_new_tokens, do_sample=do_sample)
        text, n_new = generate(m.llm, m.tokenizer, embeds, mask, gen, on_text)
        timings["generate_s"] = time.perf_counter() - t1
        answer = Answer(question=question, text=text, evidence=self._evidence(vt, video), grounded=False,
                        engine=self.name, timings_s=timings)
        return EngineResult(answer, vt, parts.num_text_tokens, budget, n_new)

    def ask(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None,
            max_new_tokens: int | None = None, do_sample: bool | None = None) -> Answer:
        return self.run(video, question, on_text=on_text, max_new_tokens=max_new_tokens, do_sample=do_sample).answer

    def loglikelihood(self, video: str, context: str, continuation: str, *,
                      per_token: bool = False) -> tuple[float, bool]:
        """Log-probability of ``continuation`` as the answer to ``context`` (summed over its tokens;
        their mean with ``per_token``), and whether greedy decoding would produce it (argmax at
        every position: V-NIAH's "PPL-based" exact match).

        The continuation is appended after the generation prompt; the compressor's query is the
        context only, so the answer cannot steer which frames the model sees.
        """
        import torch

        from longvid.models.prompt import PromptParts, build_prompt, splice

        m, cfg = self.model, self.config
        parts = build_prompt(m.tokenizer, context, system=cfg.system, date_string=cfg.date_string)
        cont = torch.tensor(m.tokenizer(continuation, add_special_tokens=False)["input_ids"], dtype=torch.long)
        if cont.numel() == 0:
            raise ValueError("the continuation is empty after tokenization; nothing to score")
        budget = m.context_budget(parts.num_text_tokens + cont.numel(), cfg.context_length)
        if budget < 1:
            raise BudgetError(f"context and continuation take {parts.num_text_tokens + cont.numel()} tokens, "
                              "leaving no room for the video")
        vt = m.video_tokens(video, question=context, query_ids=parts.after_ids, budget=budget, fps=cfg.fps,
                            num_frames=cfg.num_frames, max_frames=cfg.max_frames, compressor=self.compressor)
        check_fits(vt, budget, self.model.compressor(self.compressor))
        full = PromptParts(parts.text + continuation, parts.before_ids, torch.cat([parts.after_ids, cont]))
        with torch.inference_mode():
            embeds, mask = splice(m.llm.get_input_embeddings(), full, vt.tokens)
            logits = m.llm(inputs_embeds=embeds, attention_mask=mask).logits[0]
        n = cont.numel()
        # the logit at position p predicts token p + 1: the continuation sits at the last n positions
        logp = logits[-n - 1 : -1].float().log_softmax(-1).cpu()
        total = float(logp.gather(1, cont[:, None]).sum())
        return (total / n if per_token else total), bool((logp.argmax(-1) == cont).all())

    def _evidence(self, vt: VisualTokens, video: str) -> tuple[Evidence, ...]:
        per = vt.tokens_per_frame()
        if not per:
            return ()
        ts = {int(f): float(t) for f, t in zip(vt.frame_indices.tolist(), vt.timestamps_s.tolist())}
        top = sorted(per, key=lambda f: (-per[f], f))[: self.config.evidence_frames]
        return tuple(Evidence(Moment(ts[f], ts[f], video=video, score=float(per[f])),
                              extra={"frame_index": f, "visual_tokens": per[f]}) for f in sorted(top))


def check_fits(vt: VisualTokens, budget: int, compressor) -> None:
    """The compressor's budget guarantee, checked on its output (it may be a third party's)."""
    if len(vt) > budget:
        raise BudgetError(f"{compressor!r} returned {len(vt)} visual tokens for a budget of {budget}: "
                          "a compressor must never exceed its budget; report this to its author")


def plan_memory(model: str, *, family=None, device: str = "cpu", dtype=None,
                context_length: int | None = None, available: int | None = None):
    """The :class:`~longvid.models.memory.MemoryPlan` of a checkpoint, from its config alone.

    ``family``: a registered family name or object; None picks the one claiming the config's model_type.
    """
    from longvid.models.checkpoint import read_config, resolve_model_dir
    from longvid.models.memory import plan_for_config
    from longvid.models.registry import as_family

    folder = resolve_model_dir(model)
    raw = read_config(folder)
    fam = as_family(family, raw, str(folder / "config.json"))
    return plan_for_config(raw, fam, device=device, dtype=dtype, context_length=context_length,
                           available=available)


def load_model(model: str, *, family=None, device: str = "cpu", dtype=None,
               vision_towers: Mapping[str, str] | None = None, check_memory: bool = True,
               chunk_size: int = 32):
    """The family's model object (a :class:`~longvid.models.video_llm.VideoLLM`) for a hub id or folder."""
    from longvid.models.loader import build_model

    if check_memory:
        plan_memory(model, family=family, device=device, dtype=dtype).check()
    return build_model(model, family=family, device=device, dtype=dtype, vision_towers=vision_towers,
                       chunk_size=chunk_size)


def load_engine(model: str, *, family=None, device: str = "cpu", dtype=None,
                vision_towers: Mapping[str, str] | None = None, compressor=None,
                check_memory: bool = True, progress: Callable[[str, float, float], None] | None = None,
                **engine_options) -> VideoLLMEngine:
    """A ready engine: ``load_engine("Vision-CAIR/LongVU_Qwen2_7B").ask(video, question)``.

    ``engine_options`` fill :class:`EngineConfig` (fps, num_frames, max_frames, context_length,
    system, generation). ``compressor`` overrides the family's default compression (an object or
    a registered name). ``progress(stage, done, total)`` hears how far sampling got.
    """
    native = _native_engine(model, family)
    if native is not None:  # a transformers-native family (Qwen-VL, LLaVA-OneVision) builds its own
        if vision_towers:  # the family says whether it takes separate towers
            engine_options["vision_towers"] = vision_towers
        return native(model, device=device, dtype=dtype, compressor=compressor, progress=progress,
                      check_memory=check_memory, **engine_options)
    return load_shared_engine(model, family=family, device=device, dtype=dtype, vision_towers=vision_towers,
                              compressor=compressor, check_memory=check_memory, progress=progress,
                              **engine_options)


def load_shared_engine(model: str, *, family=None, device: str = "cpu", dtype=None,
                       vision_towers: Mapping[str, str] | None = None, compressor=None,
                       check_memory: bool = True, progress: Callable[[str, float, float], None] | None = None,
                       **engine_options) -> VideoLLMEngine:
    """The engine the shared loader builds (weights through :func:`load_model`), never a family's
    ``create_engine``: what a family's own ``create_engine`` calls after checking its options."""
    known = {f.name for f in dataclasses.fields(EngineConfig)}
    unknown = sorted(set(engine_options) - known)
    if unknown:
        raise ModelLoadError(f"engine option(s) {', '.join(unknown)} do not apply to {model}; this engine takes "
                             f"{', '.join(sorted(known))}")
    config = EngineConfig(**engine_options)
    plan = None
    if check_memory:  # before any weight is loaded
        plan = plan_memory(model, family=family, device=device, dtype=dtype,
                           context_length=config.context_length).check()
    m = load_model(model, family=family, device=device, dtype=dtype, vision_towers=vision_towers,
                   check_memory=False)
    # a family whose model answers its own way (Video-XL's windowed prefill, LLaMA-VID's subtitle
    # interleaving) names its engine: a class, or "module:Class" to keep the import lazy
    cls = getattr(m, "engine_class", None) or VideoLLMEngine
    if isinstance(cls, str):
        import importlib

        mod, _, name = cls.partition(":")
        cls = getattr(importlib.import_module(mod), name)
    return cls(m, config=config, compressor=compressor, plan=plan, progress=progress)


def _native_engine(model: str, family):
    """The engine factory of the family of ``model`` when it has its own (``create_engine``), else None."""
    from longvid.models.checkpoint import read_config, resolve_model_dir
    from longvid.models.registry import as_family

    folder = resolve_model_dir(model)
    fam = as_family(family, read_config(folder), str(folder / "config.json"))
    return getattr(fam, "create_engine", None)


def _register_engine(name: str) -> None:
    from longvid.models.registry import get_family

    native = getattr(get_family(name), "create_engine", None)
    if native is not None:  # a family with its own engine (a transformers-native model)
        ENGINES.register(name)(native)
        return
    default = get_family(name).default_checkpoint

    def create(model: str = default, **options) -> VideoLLMEngine:
        return load_engine(model, family=name, **options)

    create.__name__ = create.__qualname__ = f"{name}_engine"
    create.__doc__ = f"The {name} engine ({default} unless ``model`` is given); options as :func:`load_engine`."
    ENGINES.register(name)(create)


for _name in list_families():  # one engine per family, under its name
    _register_engine(_name)
