"""The Video-XL engine: ``ask(video, question)`` with a streaming beacon prefill, then decoding.

Design decisions:
- The same surface and options as the other video-LLM engines (``run``/``ask``, ``on_text``
  streaming, :class:`~longvid.models.engine.EngineConfig` for sampling, prompt and generation),
  plus ``ratio`` (2/4/8/16; None: the checkpoint's rule). The prompt is the checkpoint's chat
  template split at the video placeholder, as for every family: the text before it is the
  original's ``beacon_skip_first``, the video's end its ``beacon_skip_last``.
- Memory is checked before decoding a frame: the planner's frames-that-fit (beacon cache plus
  one window) against the frames sampling will give; a refusal carries the planner's numbers.
  The beacon count must also fit the model's positions (compact positions: prefix + beacons +
  one window + question + answer), else a ``BudgetError`` says which ratio would fit.
- Decoding is a plain loop on the beacon cache (greedy, or temperature/top-p sampling), one
  token a step, stopping at the template's end-of-turn tokens.
- ``loglikelihood`` (the ``ScoresLikelihood`` capability) runs the same prefill, then feeds the
  text after the video and the continuation in one teacher-forced pass: the continuation's
  scores are those the decoding loop would see, token for token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from longvid.engines import check_question
from longvid.errors import BudgetError
from longvid.models.engine import EngineConfig, VideoLLMEngine
from longvid.models.generate import CallbackStreamer, stop_token_ids
from longvid.types import Answer, Evidence, Moment

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoXLResult:
    answer: object  # Answer
    run: object  # VideoXLRun: beacons, spans, ratio, measured cache
    text_tokens: int
    new_tokens: int


class VideoXLEngine:
    """Answers questions about a video with Video-XL (beacon-compressed streaming prefill)."""

    def __init__(self, model, *, config: EngineConfig = EngineConfig(), compressor=None, plan=None,
                 progress: Callable[[str, float, float], None] | None = None, ratio: int | None = None) -> None:
        if compressor is not None:
            raise BudgetError("Video-XL compresses with its own beacon tokens: pass ratio=2/4/8/16, not a compressor")
        self.model, self.config, self.plan, self.progress, self.ratio = model, config, plan, progress, ratio
        self.name = model.family

    generation_for = VideoLLMEngine.generation_for  # one question's max_new_tokens / do_sample

    def check_memory(self, video: str) -> int:
        from longvid.io.probe import probe
        from longvid.io.sampling import SamplingConfig, plan_targets

        cfg = self.config
        n = len(plan_targets(probe(video), SamplingConfig(fps=cfg.fps, num_frames=cfg.num_frames,
                                                          max_frames=cfg.max_frames)))
        if self.plan is not None:
            self.plan.check(frames=n)
        return n

    def _ratio(self, video: str, prompt_tokens: int, answer_tokens: int) -> tuple[int, int]:
        """(frames, ratio) for ``video``; refuses, with the numbers, what the positions cannot hold."""
        m, cfg = self.model, self.config
        n = self.check_memory(video)
        xcfg = m.config
        r = xcfg.pick_ratio(self.ratio, prompt_tokens + n * xcfg.tokens_per_frame)
        ctx = cfg.context_length or xcfg.context_length
        need = prompt_tokens + -(-n * xcfg.tokens_per_frame // r) + xcfg.window + answer_tokens
        if need > ctx:
            raise BudgetError(f"{n} frames at ratio {r} need {need} positions (prompt {prompt_tokens}, "
                              f"beacons {n * xcfg.tokens_per_frame // r}, one window {xcfg.window}, answer "
                              f"{answer_tokens}) but the model has {ctx}: sample fewer frames or "
                              "use a higher ratio")
        return n, r

    def _prefill(self, video: str, parts, r: int):
        cfg = self.config
        return self.model.prefill(video, parts.before_ids, fps=cfg.fps, num_frames=cfg.num_frames,
                                  max_frames=cfg.max_frames, ratio=r, progress=self.progress)

    def run(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None,
            max_new_tokens: int | None = None, do_sample: bool | None = None) -> VideoXLResult:
        from longvid.models.prompt import build_prompt

        question = check_question(question)
        m, cfg = self.model, self.config
        gen = self.generation_for(max_new_tokens=max_new_tokens, do_sample=do_sample)
        t0 = time.perf_counter()
        parts = build_prompt(m.tokenizer, question, system=cfg.system, date_string=cfg.date_string)
        _, r = self._ratio(video, parts.num_text_tokens, gen.max_new_tokens)
        pre, run = self._prefill(video, parts, r)
        logits = pre.add_text(parts.after_ids, logits=True)
        t1 = time.perf_counter()
        ids = self._decode(pre, logits, on_text, gen)
        text = m.tokenizer.decode(ids, skip_special_tokens=True).strip()
        timings = {"visual_s": t1 - t0, "generate_s": time.perf_counter() - t1}
        answer = Answer(question=question, text=text, evidence=self._evidence(run, video), grounded=False,
                        engine=self.name, timings_s=timings)
        return VideoXLResult(answer, run, parts.num_text_tokens, len(ids))

    def loglikelihood(self, video: str, context: str, continuation: str, *,
                      per_token: bool = False) -> tuple[float, bool]:
        """Log-probability of ``continuation`` as the answer to ``context`` (summed over its
        tokens; their mean with ``per_token``), and whether greedy decoding gives it (argmax at
        every position), as :meth:`VideoLLMEngine.loglikelihood` defines them.

        The video goes through the same beacon prefill as ``run`` (the ratio chosen for the
        context alone); the text after the video and the continuation are then fed in one
        teacher-forced pass, kept whole like an answer being generated.
        """
        from longvid.models.prompt import build_prompt

        m, cfg = self.model, self.config
        parts = build_prompt(m.tokenizer, context, system=cfg.system, date_string=cfg.date_string)
        cont = torch.tensor(m.tokenizer(continuation, add_special_tokens=False)["input_ids"], dtype=torch.long)
        if cont.numel() == 0:
            raise ValueError("the continuation is empty after tokenization; nothing to score")
        n = int(cont.numel())
        _, r = self._ratio(video, parts.num_text_tokens, n)
        pre, _run = self._prefill(video, parts, r)
        # row p's logits predict token p + 1: the last row of the prompt, then all but the last of the continuation
        logits = pre.add_text(torch.cat([parts.after_ids, cont]), logits=True, rows=n + 1)[:-1]
        logp = logits.float().log_softmax(-1).cpu()
        total = float(logp.gather(1, cont[:, None]).sum())
        return (total / n if per_token else total), bool((logp.argmax(-1) == cont).all())

    def ask(self, video: str, question: str, *, on_text: Callable[[str], None] | None = None,
            max_new_tokens: int | None = None, do_sample: bool | None = None) -> Answer:
        return self.run(video, question, on_text=on_text, max_new_tokens=max_new_tokens, do_sample=do_sample).answer

    def _decode(self, pre, logits: torch.Tensor, on_text, g) -> list[int]:
        tok = self.model.tokenizer
        stops = set(stop_token_ids(tok))
        streamer = CallbackStreamer(tok, on_text) if on_text is not None else None
        if streamer:
            streamer.put(torch.empty(0, dtype=torch.long))  # the streamer skips its first (prompt) call
        out: list[int] = []
        for step in range(g.max_new_tokens):
            nxt = _pick(logits, g)
            if nxt in stops:
                break
            out.append(nxt)
            if streamer:
                streamer.put(torch.tensor([nxt]))
            if step + 1 < g.max_new_tokens:
                logits = pre.add_text(torch.tensor([nxt], dtype=torch.long), logits=True)
        if streamer:
            streamer.end()
        return out

    def _evidence(self, run, video: str) -> tuple[Evidence, ...]:
        per = run.visual.tokens_per_frame()
        if not per:
            return ()
        ts = {s.first_frame: s.start_s for s in run.spans}
        top = sorted(per, key=lambda f: (-per[f], f))[: self.config.evidence_frames]
        return tuple(Evidence(Moment(ts[f], ts[f], video=video, score=float(per[f])),
                              extra={"frame_index": f, "beacons": per[f], "ratio": run.ratio}) for f in sorted(top))


def _pick(logits: torch.Tensor, g) -> int:
    if not g.do_sample:
        return int(logits.argmax())
    p = torch.softmax(logits / g.temperature, -1)
    sp, si = p.sort(descending=True)
    keep = sp.cumsum(0) - sp < g.top_p  # the smallest set whose mass reaches top_p
    sp = sp * keep
    return int(si[torch.multinomial(sp / sp.sum(), 1)])
