"""LongVU stage 1: temporal reduction by feature similarity inside windows of frames.

Design decisions:
- Frames are split into consecutive, non-overlapping windows of 16. A frame's score is its mean
  cosine similarity to every frame of its window, itself included (as the released code does);
  the window's middle frame (position ``len // 2``, also for a short last window) scores 0 and is
  always kept; frames scoring below 0.83 are kept. Then, above 400 survivors, a uniform
  subsample to 400 (LongVU's memory guard). The guard picks survivor ``floor(i * n / 400)``
  for ``i = 0..399`` (the start of each of 400 equal spans), as the released code does, so a
  checkpoint sees the frames it was evaluated with; ``guard_pick="centre"`` takes the centre of
  each span instead (``uniform_positions``, what longvid's other subsamplers use), which keeps
  the first and last spans symmetric.
- The score comes from one W x W Gram product per window (batched over windows): the frames are
  read once, in float32 whatever the input dtype. No T x T similarity is ever formed.
- When to apply it: ``T >= budget // 64``, equality included (a frame count equal to
  ``budget // 64`` reduces too; see docs/compression.md for where this differs from a ``>``). The 64
  is the token count of a low-resolution frame, so it is not a constant here: ``budget_divisor``
  left at None means "the low grid's tokens": the default ``MixedResolutionConfig.low_grid``
  (8x8) when this config is used alone, the compressor's own low grid inside ``LongVU``.
- ``TemporalReducer`` is the streaming form: push frames in any chunking, each with a payload,
  and get every frame of each completed window back, with its payload and the decision; memory
  is one window. ``temporal_reduce`` runs it over a whole
  tensor (or a ``FrameFeatures``) and applies the guard, so both give identical results.
- The features scored may come from another encoder than the tokens (DINOv2 vs SigLIP in LongVU),
  or be cheap pixel thumbnails (see ``longvid.compress.prefilter``): anything ``(T, ...)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Generic, Literal, TypeVar

import torch

from longvid.compress.base import uniform_positions
from longvid.compress.mixed_resolution import MixedResolutionConfig
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameFeatures, StageStats

P = TypeVar("P")
B = TypeVar("B")

# which survivor of each of the guard's equal spans is kept: its first ("start", the released
# LongVU code's int(i * n / k)) or its middle ("centre", longvid's uniform_positions)
GuardPick = Literal["start", "centre"]


@dataclass(frozen=True)
class TemporalConfig:
    window_frames: int = 16  # LongVU: consecutive non-overlapping windows of 16 frames
    threshold: float = 0.83  # LongVU: keep frames whose mean cosine similarity in the window is below this
    keep_middle: bool = True  # LongVU: the window's middle frame scores 0, so it is always kept
    max_frames: int | None = 400  # LongVU memory guard: more survivors are subsampled uniformly to this
    guard_pick: GuardPick = "start"  # the released code's floor(i * n / max_frames); "centre": span centres
    # apply only when T >= budget // divisor; None: the tokens of a low-resolution frame (8x8 = 64
    # by MixedResolutionConfig's default; inside LongVU, its own low grid). See divisor().
    budget_divisor: int | None = None

    def __post_init__(self) -> None:
        if self.window_frames < 1:
            raise InvalidFeaturesError(f"window_frames must be >= 1, got {self.window_frames}")
        if self.max_frames is not None and self.max_frames < 1:
            raise InvalidFeaturesError(f"max_frames must be >= 1 or None, got {self.max_frames}")
        if self.budget_divisor is not None and self.budget_divisor < 1:
            raise InvalidFeaturesError(f"budget_divisor must be >= 1 or None, got {self.budget_divisor}")
        if self.guard_pick not in ("start", "centre"):
            raise InvalidFeaturesError(f"guard_pick must be 'start' or 'centre', got {self.guard_pick!r}")

    def divisor(self, low_tokens: int | None = None) -> int:
        """The divisor in ``T >= budget // divisor``: ``budget_divisor`` when set, else
        ``low_tokens`` (the low grid of the compressor this config serves), else the tokens of
        the default low grid (``MixedResolutionConfig``: 8x8 = 64)."""
        if self.budget_divisor is not None:
            return self.budget_divisor
        return MixedResolutionConfig().low_tokens if low_tokens is None else low_tokens

    def applies(self, num_frames: int, budget: int | None, *, low_tokens: int | None = None) -> bool:
        """Whether LongVU runs temporal reduction for this many frames (always when no budget)."""
        return budget is None or num_frames >= budget // self.divisor(low_tokens)


@dataclass(frozen=True)
class TemporalResult:
    kept: torch.Tensor  # (K,) int64 positions (rows of the input), increasing
    scores: torch.Tensor  # (T,) float32 mean similarity within the window; the kept middle frames score 0
    applied: bool  # False: the frame count was below budget // divisor, every frame kept
    stats: StageStats


def window_scores(x: torch.Tensor, *, keep_middle: bool = True) -> torch.Tensor:
    """Scores of the frames of one window ``(W, ...)``: mean cosine similarity, in float32."""
    s = _scores(x.reshape(1, x.shape[0], -1)).reshape(-1)
    if keep_middle:
        s[x.shape[0] // 2] = 0.0
    return s


def batched_window_scores(x: torch.Tensor, window: int, *, keep_middle: bool = True) -> torch.Tensor:
    """Scores of ``(n*window, ...)`` frames as ``n`` full windows at once."""
    t = x.shape[0]
    assert t % window == 0, (t, window)
    s = _scores(x.reshape(t // window, window, -1))
    if keep_middle:
        s[:, window // 2] = 0.0
    return s.reshape(t)


def _scores(x: torch.Tensor) -> torch.Tensor:
    """``(n, W, F)`` -> ``(n, W)`` mean cosine similarity of each frame to its window.

    One batched Gram product per group of windows (``W x W``, never ``T x T``): it reads the
    frames once, where normalise-then-dot reads them three times, so it is about 4x faster on
    long feature vectors. Float32 for half-precision inputs.
    """
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    g = torch.bmm(x, x.transpose(1, 2))  # (n, W, W)
    norms = torch.diagonal(g, dim1=1, dim2=2).clamp_min(1e-24).sqrt()
    return (g / (norms[:, :, None] * norms[:, None, :])).mean(2).float()


@dataclass(frozen=True)
class Settled(Generic[P]):
    """One frame whose window has closed: what the caller pushed with it, and the decision."""

    position: int  # global position among all frames pushed (0, 1, 2, ...)
    payload: P  # whatever the caller pushed with this frame (pixels, times, ids...), untouched
    kept: bool  # temporal reduction keeps this frame
    score: float  # mean cosine similarity within its window (0 for the kept middle frame)


class TemporalReducer(Generic[P]):
    """Streaming temporal reduction: ``push`` frames as they arrive, ``finish`` at the end.

    Each frame may carry a payload (anything: its pixels, its time, its tokens). The reducer holds
    a frame's features and payload only until its window of ``window_frames`` closes, then hands
    back every frame of that window, kept or not, as :class:`Settled` records in push order. So no
    caller keeps a buffer of its own: memory is at most ``window_frames - 1`` pending frames.

    The 400-frame guard is global (it needs the final survivor count) and so is not applied
    here: see :func:`apply_guard`.
    """

    def __init__(self, config: TemporalConfig = TemporalConfig()) -> None:
        self.config = config
        self._feats: list[torch.Tensor] = []
        self._payloads: list = []
        self._buffered = 0
        self._start = 0  # global position of the first buffered frame
        self.frames_pushed = 0
        self.frames_kept = 0

    @property
    def pending(self) -> int:
        """Frames pushed whose window has not closed yet."""
        return self._buffered

    def push(self, features: torch.Tensor, payloads: Sequence[P] | None = None) -> list[Settled[P]]:
        """Add ``(n, ...)`` frame features (and one payload per frame, or None for each);
        returns the frames of every window this push completed."""
        n = int(features.shape[0])
        if payloads is None:
            payloads = [None] * n
        elif len(payloads) != n:
            raise InvalidFeaturesError(f"{len(payloads)} payloads for {n} frames: give one per frame")
        if n == 0:
            return []
        self.frames_pushed += n
        w = self.config.window_frames
        self._feats.append(features)
        self._payloads.extend(payloads)
        self._buffered += n
        if self._buffered < w:
            return []
        allx = torch.cat(self._feats) if len(self._feats) > 1 else self._feats[0]
        n_full = (allx.shape[0] // w) * w
        scores = batched_window_scores(allx[:n_full], w, keep_middle=self.config.keep_middle)
        rest = allx[n_full:]
        self._feats = [rest] if rest.shape[0] else []
        self._buffered = rest.shape[0]
        return self._settle(scores)

    def finish(self) -> list[Settled[P]]:
        """Score the last, possibly short, window and return its frames."""
        if not self._buffered:
            return []
        allx = torch.cat(self._feats) if len(self._feats) > 1 else self._feats[0]
        self._feats, self._buffered = [], 0
        return self._settle(window_scores(allx, keep_middle=self.config.keep_middle))

    def _settle(self, scores: torch.Tensor) -> list[Settled[P]]:
        n = scores.shape[0]
        keep = (scores < self.config.threshold).cpu().tolist()
        vals = scores.cpu().tolist()
        done, self._payloads = self._payloads[:n], self._payloads[n:]
        out = [Settled(self._start + i, pl, k, v) for i, (pl, k, v) in enumerate(zip(done, keep, vals))]
        self._start += n
        self.frames_kept += sum(keep)
        return out


@dataclass(frozen=True)
class Row(Generic[B]):
    """A payload naming a frame by the batch it was pushed in and its row there.

    With these payloads the settled frames can be gathered batch by batch (``by_batch``): one
    index per batch, or no copy at all when a whole batch is kept, where per-frame payloads of
    tensors would cost one copy per frame.
    """

    batch_no: int  # counts the pushes, so that equal batches stay apart
    batch: B
    row: int


def rows_of(batch_no: int, batch: B, n: int) -> list[Row[B]]:
    """The payloads of the ``n`` frames of one pushed batch."""
    return [Row(batch_no, batch, j) for j in range(n)]


def by_batch(rows: Iterable[Row[B]]) -> list[tuple[B, list[int]]]:
    """Consecutive rows grouped by their batch, in order: ``[(batch, [row, ...]), ...]``.

    ``by_batch(s.payload for s in settled if s.kept)`` gives the kept frames of each batch.
    """
    return [(g[0].batch, [r.row for r in g]) for g in (list(grp) for _, grp in groupby(rows, key=lambda r: r.batch_no))]


def kept_positions(settled: Sequence[Settled]) -> torch.Tensor:
    """The global positions of the kept frames among ``settled``, as an int64 tensor."""
    return torch.tensor([s.position for s in settled if s.kept], dtype=torch.long)


def guard_positions(n: int, k: int, pick: GuardPick = "start") -> torch.Tensor:
    """``k`` of ``n`` positions, one per equal span: its start (``floor(i * (n / k))``, computed
    in float64 as the released code's Python floats are) or its centre."""
    if k >= n:
        return torch.arange(n)
    if pick == "centre":
        return uniform_positions(n, k)
    return (torch.arange(k, dtype=torch.float64) * (n / k)).floor().to(torch.long)


def apply_guard(kept: torch.Tensor, max_frames: int | None, pick: GuardPick = "start") -> torch.Tensor:
    """LongVU's memory guard: more than ``max_frames`` survivors -> one per equal span of them."""
    if max_frames is None or kept.numel() <= max_frames:
        return kept
    return kept[guard_positions(kept.numel(), max_frames, pick)]


def temporal_reduce(
    features: FrameFeatures | torch.Tensor,
    *,
    budget: int | None = None,
    config: TemporalConfig = TemporalConfig(),
    chunk_frames: int = 256,
) -> TemporalResult:
    """Which frames LongVU keeps. ``features``: ``(T, ...)`` per-frame features (any encoder).

    ``budget`` (visual tokens) enables the ``T >= budget // divisor`` condition; None always reduces.
    Works through the frames ``chunk_frames`` at a time so the float32 copy stays small.
    """
    t0 = time.perf_counter()
    x = features.features if isinstance(features, FrameFeatures) else features
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        raise InvalidFeaturesError(f"temporal_reduce needs a non-empty (T, ...) tensor, got {getattr(x, 'shape', x)}")
    t = x.shape[0]
    tokens_per_frame = x.shape[1] if isinstance(features, FrameFeatures) else 0
    if not config.applies(t, budget):
        st = StageStats("temporal", t, t, t * tokens_per_frame, t * tokens_per_frame,
                        time.perf_counter() - t0, f"not applied: {t} frames < budget // {config.divisor()}")
        return TemporalResult(torch.arange(t), torch.zeros(t), False, st)
    red: TemporalReducer[None] = TemporalReducer(config)
    step = max(config.window_frames, chunk_frames // config.window_frames * config.window_frames)
    settled: list[Settled[None]] = []
    for i in range(0, t, step):
        settled.extend(red.push(x[i:i + step]))
    settled.extend(red.finish())
    kept = apply_guard(kept_positions(settled), config.max_frames, config.guard_pick)
    scores = torch.tensor([r.score for r in settled], dtype=torch.float32)
    note = f"guard: subsampled to {config.max_frames}" if config.max_frames and kept.numel() == config.max_frames \
        and torch.count_nonzero(scores < config.threshold) > config.max_frames else ""
    st = StageStats("temporal", t, kept.numel(), t * tokens_per_frame, kept.numel() * tokens_per_frame,
                    time.perf_counter() - t0, note)
    return TemporalResult(kept, scores, True, st)
