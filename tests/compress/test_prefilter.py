"""The pixel pre-filter: near-duplicates never reach the encoder; streaming is chunking-proof."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from longvid.compress.prefilter import FramePrefilter, PrefilterConfig, prefilter_frames, thumbnails
from longvid.compress.temporal import TemporalConfig, temporal_reduce
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameBatch


def video(n: int, *, static_until: int, seed: int = 0) -> np.ndarray:
    """``n`` frames 48x64: the first ``static_until`` are one still shot, the rest all different."""
    rng = np.random.default_rng(seed)
    still = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frames = rng.integers(0, 256, (n, 48, 64, 3), dtype=np.uint8)
    frames[:static_until] = still
    return frames


def batches(frames: np.ndarray, sizes):
    i = 0
    for s in sizes:
        if i >= len(frames):
            break
        idx = np.arange(i, min(i + s, len(frames)))
        yield FrameBatch(frames[idx], idx * 0.5, idx * 0.5, idx + 100)
        i += s
    if i < len(frames):
        idx = np.arange(i, len(frames))
        yield FrameBatch(frames[idx], idx * 0.5, idx * 0.5, idx + 100)


def test_still_shot_is_dropped_distinct_frames_pass():
    frames = video(40, static_until=16)
    pf = FramePrefilter()
    out = list(pf(batches(frames, [5] * 8)))
    kept = np.concatenate([b.indices for b in out]) - 100
    assert kept.tolist() == [8, *range(16, 40)], "one frame of the still shot (its middle), every distinct frame"
    for b in out:  # pixels and timestamps travel with their index
        np.testing.assert_array_equal(b.frames, frames[b.indices - 100])
        np.testing.assert_allclose(b.timestamps_s, (b.indices - 100) * 0.5)
    assert pf.stats.frames_in == 40 and pf.stats.frames_out == 25
    assert "dropped 15" in pf.stats.note


@pytest.mark.parametrize("sizes", [[1] * 50, [16] * 4, [3, 30, 7, 50], [50]])
def test_result_does_not_depend_on_batch_sizes(sizes):
    frames = video(50, static_until=20, seed=1)
    frames[30:45] = frames[30]  # a second still shot
    got = np.concatenate([b.indices for b in prefilter_frames(batches(frames, sizes))])
    ref = temporal_reduce(thumbnails(frames), config=TemporalConfig(threshold=0.95, max_frames=None)).kept
    assert got.tolist() == (ref.numpy() + 100).tolist()


def test_memory_is_bounded_by_the_window():
    """A generator that fails if the filter reads more than a window ahead of what it yielded."""
    frames = video(200, static_until=0, seed=2)
    pulled = 0

    def source():
        nonlocal pulled
        for b in batches(frames, [4] * 50):
            pulled += len(b)
            yield b

    for out in prefilter_frames(source()):
        assert pulled - int(out.indices[-1] - 100) <= 16 + 4


def test_thumbnails_are_normalised_and_flat_frames_comparable():
    black = np.zeros((2, 30, 40, 3), np.uint8)
    th = thumbnails(black)
    assert th.shape == (2, 32 * 32 * 3) and float(th.min()) == -1.0
    assert torch.nn.functional.cosine_similarity(th[0], th[1], dim=0) == pytest.approx(1.0)
    assert thumbnails(black, PrefilterConfig(colour=False, thumbnail=(8, 8))).shape == (2, 64)
    with pytest.raises(InvalidFeaturesError):
        thumbnails(np.zeros((2, 30, 40), np.uint8))
    with pytest.raises(InvalidFeaturesError):
        PrefilterConfig(threshold=2.0)
