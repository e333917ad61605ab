"""LongVU's compressor against reference computations of the released code's documented
behaviour (exact kept indices and token counts on tiny tensors)."""

from __future__ import annotations

import pytest
import torch

from longvid.compress import create_compressor
from longvid.compress.temporal import TemporalConfig, guard_positions, temporal_reduce
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameFeatures


def released_guard(n: int, k: int = 400) -> list[int]:
    """The released guard: interval = n / k (a Python float), survivor int(interval * i)."""
    interval = n / float(k)
    return [int(interval * i) for i in range(k)]


def orthogonal_frames(t: int, d: int = 1024) -> torch.Tensor:
    """Random high-dimensional frames: mean window similarity ~1/16, so all survive."""
    return torch.randn(t, d, generator=torch.Generator().manual_seed(t))


@pytest.mark.parametrize("n", [401, 700, 799, 1000, 1601, 4097])
def test_guard_positions_are_the_released_picks(n):
    assert guard_positions(n, 400).tolist() == released_guard(n)


def test_guard_on_700_survivors_matches_release_and_centre_differs():
    x = orthogonal_frames(700)
    kept = temporal_reduce(x).kept  # every frame survives, then the guard
    assert kept.tolist() == released_guard(700)
    centre = temporal_reduce(x, config=TemporalConfig(guard_pick="centre")).kept
    assert centre.tolist() == [int((i + 0.5) * 700 / 400) for i in range(400)]
    assert sum(a != b for a, b in zip(kept.tolist(), centre.tolist())) == 300


def test_longvu_compressor_guard_keeps_the_released_frames():
    t = 700
    x = orthogonal_frames(t, 4 * 64).reshape(t, 4, 64)
    feats = FrameFeatures(x, (2, 2), torch.arange(t, dtype=torch.float64), torch.arange(t) + 10)
    comp = create_compressor("longvu_temporal")
    out = comp(feats, budget=64 * t)  # T >= budget // 64: reduction on
    frames = sorted(set(out.frame_indices.tolist()))
    assert frames == [i + 10 for i in released_guard(t)]


def test_guard_pick_is_checked():
    with pytest.raises(InvalidFeaturesError, match="guard_pick"):
        TemporalConfig(guard_pick="middle")
