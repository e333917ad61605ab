"""Budget planner: from context length, prompt length and frame count to a chain that fits.

Design decisions:
- ``budget = context_length - prompt_tokens - reserve``. The reserve, ``RESERVE_TOKENS = 16``, is
  LongVU's (the released inference code keeps 16 tokens free after the prompt); this module is
  the one place it is set, and model configs import it. Too small a budget for even one frame
  raises ``BudgetError`` with the numbers.
- Adaptive methods (``Compressor.adaptive``: LongVU and its stages, which carry their own
  fallbacks) are planned as one stage and explain their data-dependent decisions through
  ``Compressor.plan_notes``. Fixed-rate methods (pooling, LLaMA-VID, Video-XL windows, uniform) get an explicit
  ``uniform(max_frames=k)`` stage in front when their per-frame cost times the frame count
  exceeds the budget, so the plan itself says what is dropped, instead of an internal fallback.
- The plan is data: names and options, the expected token count (exact or upper bound, from the
  compressors themselves) and a human-readable report; ``plan.build()`` gives the ``Pipeline``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from longvid.compress.base import Grid, TokenCount, create_compressor
from longvid.compress.pipeline import Pipeline
from longvid.errors import BudgetError, CompressorContractError

RESERVE_TOKENS = 16  # LongVU: tokens kept free after the prompt (answer start, template tail)


@dataclass(frozen=True)
class PlannerDefaults:
    reserve: int = RESERVE_TOKENS  # see RESERVE_TOKENS
    method: str = "longvu"  # the strategy planned when none is named


DEFAULTS = PlannerDefaults()


@dataclass(frozen=True)
class StageSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetPlan:
    context_length: int
    prompt_tokens: int
    reserve: int
    budget: int  # visual tokens available: context - prompt - reserve
    num_frames: int
    grid: Grid
    method: str
    stages: tuple[StageSpec, ...]
    expected: TokenCount  # tokens the pipeline returns (exact, or an upper bound)
    report: tuple[str, ...]  # one line per decision

    def build(self) -> Pipeline:
        return Pipeline([create_compressor(s.name, **s.options) for s in self.stages])

    def __str__(self) -> str:
        return "\n".join(self.report)


def plan_budget(
    context_length: int,
    prompt_tokens: int,
    num_frames: int,
    grid: Grid,
    reserve: int = DEFAULTS.reserve,
    *,
    method: str = DEFAULTS.method,
    options: dict[str, Any] | None = None,
) -> BudgetPlan:
    """Plan how ``num_frames`` frames of ``grid`` tokens fit the context with ``method``."""
    for name, v in (("context_length", context_length), ("prompt_tokens", prompt_tokens),
                    ("num_frames", num_frames), ("reserve", reserve)):
        if not isinstance(v, int) or v < 0:
            raise BudgetError(f"{name} must be a non-negative int, got {v!r}")
    if num_frames == 0:
        raise BudgetError("num_frames is 0: nothing to plan; check the frame sampling")
    budget = context_length - prompt_tokens - reserve
    if budget < 1:
        raise BudgetError(
            f"no room for visual tokens: context {context_length} - prompt {prompt_tokens} - reserve "
            f"{reserve} = {budget}; shorten the prompt or use a longer context"
        )
    options = dict(options or {})
    comp = create_compressor(method, **options)
    n = grid[0] * grid[1]
    lines = [
        f"budget: {context_length} context - {prompt_tokens} prompt - {reserve} reserve = {budget} visual tokens",
        f"input: {num_frames} frames x {n} tokens ({grid[0]}x{grid[1]}) = {num_frames * n} tokens",
    ]
    stages: list[StageSpec] = []
    if comp.adaptive:
        stages.append(StageSpec(method, options))
        lines.append(f"{method}: adaptive; its own stages and fallbacks keep it within {budget}")
        lines.extend(comp.plan_notes(num_frames=num_frames, grid=tuple(grid), budget=budget))
    else:
        per = comp.token_count(num_frames=1, grid=grid, budget=1 << 62).tokens
        if per > budget:
            raise BudgetError(
                f"{method} needs {per} tokens for a single frame but only {budget} are available; "
                "choose a cheaper strategy (llama_vid, avg_pool_2x2, longvu) or a longer context"
            )
        k = budget // per
        if k < num_frames:
            stages.append(StageSpec("uniform", {"max_frames": k}))
            lines.append(f"uniform: {num_frames} -> {k} evenly spread frames ({per} tokens/frame after {method})")
        stages.append(StageSpec(method, options))
        lines.append(f"{method}: {per} tokens per frame")
    plan_pipe = Pipeline([create_compressor(s.name, **s.options) for s in stages])
    expected = plan_pipe.token_count(num_frames=num_frames, grid=grid, budget=budget)
    if expected.tokens > budget:
        raise CompressorContractError(
            f"{method} promises {expected.tokens} tokens for a budget of {budget}: its token_count "
            "breaks the compressor contract; report it to the strategy's authors")
    lines.append(f"result: {'exactly' if expected.exact else 'at most'} {expected.tokens} tokens "
                 f"({100 * expected.tokens / budget:.0f}% of the budget)")
    return BudgetPlan(context_length, prompt_tokens, reserve, budget, num_frames, tuple(grid), method,
                      tuple(stages), expected, tuple(lines))
