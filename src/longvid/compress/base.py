"""The compressor contract: features in, budget-fitting visual tokens with provenance out.

Design decisions:
- A compressor is a small object built from keyword options (``create_compressor(name, **kw)``)
  and called as ``comp(features, budget=..., query=..., temporal_features=...)``. Options are
  frozen dataclass fields; each default lives in exactly one place.
- Every output token carries its source frame index, timestamp, grid cell (-1 for tokens that
  summarise a frame or a window) and the grid that cell indexes (``cell_grids``), so prompt
  builders and answers can point back at the video.
- The output never exceeds ``budget``: ``Compressor.__call__`` checks it after every call and
  raises ``CompressorContractError`` naming the strategy (third-party strategies go through the
  same check, so it is a raised error, not an ``assert`` that ``python -O`` would remove). When a
  strategy's natural output is too large it applies its documented fallback and says so in
  ``StageStats.note``; nothing is dropped silently.
- Capabilities are declared, not probed: ``adaptive`` (class attribute) says the strategy fits
  any budget with its own fallbacks, so the budget planner plans it as one stage, and
  ``plan_notes`` lets it explain its data-dependent decisions in the plan's report.
- Each compressor owns its token-count math: ``token_count`` returns the count and whether it is
  exact (``exact=False``: a guaranteed upper bound, for data-dependent strategies such as
  temporal reduction). Prompt builders ask the compressor; they never recompute pooling.
- Similarities and scores are computed in float32 whatever the token dtype (bfloat16 cosine
  similarities near a threshold are too coarse); tokens are returned in the input dtype and device.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F

from longvid.errors import BudgetError, CompressorContractError, InvalidFeaturesError
from longvid.registry import Registry
from longvid.types import FrameFeatures, StageStats, VisualTokens

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)

COMPRESSORS: Registry[Compressor] = Registry("compressor")

Grid = tuple[int, int]


register_compressor = COMPRESSORS.register  # class decorator: @register_compressor("name")
create_compressor = COMPRESSORS.create  # unknown options raise TypeError naming them
list_compressors = COMPRESSORS.list


# ----------------------------------------------------------------------------- inputs and outputs
@dataclass(frozen=True)
class Query:
    """What the question says, for query-guided strategies.

    ``embedding`` is ``(L, D)`` in the same space as the visual tokens (for LongVU: the LLM input
    embeddings of the text after the ``<image>`` placeholder). ``text`` is informational unless a
    strategy documents otherwise.
    """

    text: str | None = None
    embedding: torch.Tensor | None = None  # (L, D)

    def __post_init__(self) -> None:
        e = self.embedding
        if e is not None and (e.ndim != 2 or e.shape[0] == 0 or not e.is_floating_point()):
            raise InvalidFeaturesError(
                f"Query.embedding must be a non-empty floating (L, D) tensor, got shape "
                f"{tuple(e.shape)} dtype {e.dtype}; pass the question's token embeddings"
            )


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool  # False: ``tokens`` is a guaranteed upper bound (the real count depends on the data)


class Compressor(ABC):
    """Base class of every strategy. Subclasses implement ``compress`` and ``_token_count`` (and ``min_budget`` if above 1)."""

    name: ClassVar[str] = ""
    # True: fits any budget on its own (documented fallbacks inside), so the budget planner plans
    # it as one stage. False: a fixed rate per frame, which the planner caps with ``uniform``.
    adaptive: ClassVar[bool] = False

    def __call__(
        self,
        features: FrameFeatures,
        *,
        budget: int,
        query: Query | None = None,
        temporal_features: FrameFeatures | torch.Tensor | None = None,
    ) -> VisualTokens:
        check_features(features)
        check_budget(budget)
        self.check_min_budget(features.grid, budget)
        tf = align_temporal_features(temporal_features, features)
        if query is not None and query.embedding is not None:
            check_query(query, features)
        t0 = time.perf_counter()
        out = self.compress(features, budget=budget, query=query, temporal_features=tf)
        check_output(self, out, budget)
        logger.debug("%s: %d frames -> %d tokens in %.3fs", self.name, len(features), len(out),
                     time.perf_counter() - t0)
        return out

    @abstractmethod
    def compress(
        self,
        features: FrameFeatures,
        *,
        budget: int,
        query: Query | None,
        temporal_features: torch.Tensor | None,
    ) -> VisualTokens:
        """Inputs are already validated; ``temporal_features`` is ``(T, F)`` aligned with features."""

    def token_count(self, *, num_frames: int, grid: Grid, budget: int) -> TokenCount:
        """How many tokens ``__call__`` returns for this input size (exact or upper bound).

        Raises ``BudgetError`` exactly when ``__call__`` would (budget below ``min_budget``).
        """
        check_budget(budget)
        self.check_min_budget(grid, budget)
        return self._token_count(num_frames=num_frames, grid=tuple(grid), budget=budget)

    @abstractmethod
    def _token_count(self, *, num_frames: int, grid: Grid, budget: int) -> TokenCount:
        """The count for a budget of at least ``min_budget(grid)``."""

    def min_budget(self, grid: Grid) -> int:
        """The smallest budget this strategy can meet (for fixed-rate ones: one frame's tokens)."""
        return 1

    def check_min_budget(self, grid: Grid, budget: int) -> None:
        need = self.min_budget(tuple(grid))
        if budget < need:
            raise BudgetError(
                f"{self.name}: needs at least {need} tokens (one frame on a {grid[0]}x{grid[1]} grid) but "
                f"the budget is {budget}; raise the budget (longer context, shorter prompt) or choose a "
                "strategy with fewer tokens per frame (longvu, llama_vid)"
            )

    def num_output_tokens(self, *, num_frames: int, grid: Grid, budget: int) -> int:
        """The count of ``token_count``: exact where determinable, else a guaranteed upper bound."""
        return self.token_count(num_frames=num_frames, grid=grid, budget=budget).tokens

    def plan_notes(self, *, num_frames: int, grid: Grid, budget: int) -> list[str]:
        """Lines for the budget planner's report on this strategy's own decisions (none by default)."""
        return []

    def output_layout(self, *, num_frames: int, grid: Grid) -> tuple[int, Grid] | None:
        """For strategies that can shape frames ahead of another stage: (max frames, grid) out.

        Such a strategy's ``compress`` accepts ``fit=False``: run as an intermediate ``Pipeline``
        stage it reshapes frames (subsample to ``max_frames``, pool, drop duplicates) without
        fitting the final budget, which is the last stage's job. ``None`` (the default) means the
        output is not one full grid per frame, so the strategy can only be last.
        """
        return None

    def intermediate_exact(self, *, num_frames: int, grid: Grid, budget: int) -> bool:
        """Whether ``output_layout``'s frame count is exact (not an upper bound) for this input."""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# ----------------------------------------------------------------------------- validation
def check_budget(budget: int) -> None:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise BudgetError(f"budget must be a positive int of visual tokens, got {budget!r}")


def check_output(comp: Compressor, out: VisualTokens, budget: int) -> None:
    """The budget guarantee, checked on every compressor's output (third-party ones included)."""
    if len(out) > budget:
        raise CompressorContractError(
            f"compressor {comp!r} returned {len(out)} tokens for a budget of {budget}: a bug in that "
            "strategy (its output must never exceed the budget); report it to its authors"
        )


def check_features(features: FrameFeatures) -> None:
    if not isinstance(features, FrameFeatures):
        raise InvalidFeaturesError(
            f"expected longvid.types.FrameFeatures, got {type(features).__name__}; wrap the (T, N, D) "
            "tensor with its grid, timestamps and frame indices"
        )
    x = features.features
    if x.shape[0] == 0:
        raise InvalidFeaturesError("no frames to compress (T == 0); the video sampling returned nothing")
    if not x.is_floating_point():
        raise InvalidFeaturesError(f"features must be floating point, got {x.dtype}")


def check_query(query: Query, features: FrameFeatures) -> None:
    d = features.features.shape[-1]
    if query.embedding is not None and query.embedding.shape[-1] != d:
        raise InvalidFeaturesError(
            f"query embedding has {query.embedding.shape[-1]} channels but the tokens have {d}; "
            "embed the question in the same space as the visual tokens (the LLM input embeddings)"
        )


def align_temporal_features(
    temporal: FrameFeatures | torch.Tensor | None, features: FrameFeatures
) -> torch.Tensor | None:
    """Return ``(T, F)`` features for temporal reduction, aligned row by row with ``features``.

    A ``FrameFeatures`` is aligned by frame index (it may cover more frames than ``features``);
    a tensor must have one row per frame of ``features``.
    """
    if temporal is None:
        return None
    t = len(features)
    if isinstance(temporal, FrameFeatures):
        src = temporal.frame_indices.to("cpu")
        want = features.frame_indices.to("cpu")
        order = torch.argsort(src)
        pos = torch.searchsorted(src[order], want).clamp(max=len(src) - 1)
        if not torch.equal(src[order][pos], want):
            missing = want[src[order][pos] != want][:5].tolist()
            raise InvalidFeaturesError(
                f"temporal_features lack frames {missing}...; encode the same sampled frames with both encoders"
            )
        rows = order[pos].to(temporal.features.device)
        return temporal.features[rows].reshape(t, -1)
    if not isinstance(temporal, torch.Tensor) or temporal.shape[0] != t or temporal.ndim < 2:
        shape = tuple(temporal.shape) if isinstance(temporal, torch.Tensor) else type(temporal).__name__
        raise InvalidFeaturesError(
            f"temporal_features must be FrameFeatures or a tensor with one row per frame ({t}), got {shape}"
        )
    return temporal.reshape(t, -1)


# ----------------------------------------------------------------------------- building outputs
def grid_tokens(
    x: torch.Tensor, features: FrameFeatures, positions: torch.Tensor, grid: Grid,
    stats: Sequence[StageStats] = (),
) -> VisualTokens:
    """Tokens ``x (K, h*w, D)`` of frames at ``positions`` (rows of ``features``), all on ``grid``."""
    k, n, d = x.shape
    assert n == grid[0] * grid[1], (x.shape, grid)
    return assemble(
        [x.reshape(k * n, d)],
        features,
        [positions.to(features.frame_indices.device).repeat_interleave(n)],
        [torch.arange(n).repeat(k)],
        [torch.tensor(grid).expand(k * n, 2)],
        stats,
        d=d,
        dtype=x.dtype,
        device=x.device,
    )


def assemble(
    tokens: Sequence[torch.Tensor],
    features: FrameFeatures,
    positions: Sequence[torch.Tensor],
    cells: Sequence[torch.Tensor],
    grids: Sequence[torch.Tensor],
    stats: Sequence[StageStats],
    *,
    d: int,
    dtype: torch.dtype,
    device: torch.device,
) -> VisualTokens:
    """Concatenate parts; ``positions`` index rows of ``features`` (provenance comes from there)."""
    if len(tokens) == 1:
        tok = tokens[0]  # no copy: torch.cat of one tensor still copies it
    else:
        tok = torch.cat(list(tokens)) if tokens else torch.empty(0, d, dtype=dtype, device=device)
    pos = torch.cat([p.to("cpu", torch.long) for p in positions]) if positions else torch.empty(0, dtype=torch.long)
    fi = features.frame_indices.to("cpu")
    ts = features.timestamps_s.to("cpu")
    return VisualTokens(
        tokens=tok,
        frame_indices=fi[pos].to(torch.long),
        timestamps_s=ts[pos].to(torch.float64),
        cells=torch.cat([c.to("cpu", torch.long) for c in cells]) if cells else torch.empty(0, dtype=torch.long),
        stats=tuple(stats),
        cell_grids=(torch.cat([g.to("cpu", torch.long) for g in grids]) if grids
                    else torch.empty(0, 2, dtype=torch.long)),
    )


def subset(features: FrameFeatures, positions: torch.Tensor) -> FrameFeatures:
    """Frames at ``positions`` (in that order), provenance preserved; no copy when that is all of them."""
    pos = positions.to(torch.long)
    if pos.numel() == len(features) and torch.equal(pos.cpu(), torch.arange(len(features))):
        return features
    return FrameFeatures(
        features=features.features[pos.to(features.features.device)],
        grid=features.grid,
        timestamps_s=features.timestamps_s[pos.to(features.timestamps_s.device)],
        frame_indices=features.frame_indices[pos.to(features.frame_indices.device)],
    )


# ----------------------------------------------------------------------------- shared math
def uniform_positions(n: int, k: int) -> torch.Tensor:
    """``k`` evenly spread, distinct positions out of ``n`` (the centre of each of k equal spans).

    Centres rather than ``linspace(0, n-1)``: a single kept frame is the middle one, not the first.
    """
    if k >= n:
        return torch.arange(n)
    assert k > 0, k
    return ((torch.arange(k, dtype=torch.float64) + 0.5) * (n / k)).floor().to(torch.long)


def resize_grid(x: torch.Tensor, grid: Grid, out: Grid, *, mode: str) -> torch.Tensor:
    """``(T, h*w, D)`` -> ``(T, oh*ow, D)``: ``mode`` "bilinear" (align_corners False, no
    antialias, as LongVU's low-resolution path) or "area" (average pooling over the covered cells).

    The ``(T, h*w, D)`` layout is already channels-last, so it is viewed as an NCHW tensor in
    channels-last memory format and resized in place of a transposed copy (about 5x faster than
    a transpose, or than a dense resize matrix). Float32 arithmetic for half-precision inputs.
    """
    if tuple(out) == tuple(grid):
        return x
    t, _, d = x.shape
    h, w = grid
    y = x if x.dtype in (torch.float32, torch.float64) else x.float()
    img = y.reshape(t, h, w, d).permute(0, 3, 1, 2)  # NCHW view, channels-last strides
    if mode == "bilinear":
        r = F.interpolate(img, size=out, mode="bilinear", align_corners=False)
    elif mode == "area":
        r = F.adaptive_avg_pool2d(img, out)
    else:  # pragma: no cover - internal
        raise ValueError(mode)
    r = r.permute(0, 2, 3, 1).reshape(t, out[0] * out[1], d)
    return r if r.dtype == x.dtype else r.to(x.dtype)


def query_vector(query: Query | None, device: torch.device) -> torch.Tensor | None:
    """Mean query embedding in float32, or None. Mean of dot products == dot with the mean."""
    if query is None or query.embedding is None:
        return None
    return query.embedding.to(device=device, dtype=torch.float32).mean(0)


def frames_that_fit(budget: int, tokens_per_frame: int) -> int:
    return budget // max(tokens_per_frame, 1)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def need_frames(k: int, *, budget: int, per_frame: int, what: str) -> None:
    if k < 1:
        raise BudgetError(
            f"{what}: one frame needs {per_frame} tokens but the budget is {budget}; raise the budget "
            "(longer context / shorter prompt) or choose a strategy with fewer tokens per frame"
        )


__all__ = [
    "COMPRESSORS",
    "Compressor",
    "Query",
    "TokenCount",
    "create_compressor",
    "list_compressors",
    "register_compressor",
]
