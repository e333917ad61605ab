"""Fixtures for the compression tests: device and dtype sweeps, and features that say where they came from."""

from __future__ import annotations

import pytest
import torch

from longvid.types import FrameFeatures

DEVICES = ["cpu"] + ([pytest.param("cuda", marks=pytest.mark.gpu)] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.bfloat16]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


@pytest.fixture(params=DTYPES, ids=["f32", "bf16"])
def dtype(request) -> torch.dtype:
    return request.param


class CodedFeatures:
    """``coded(t, grid, d)``: features whose channels 0..2 are (frame index, row, col); the rest is
    seeded noise. Averages of these (pooling, bilinear resize, attention) keep channel 0 == frame
    index and put channels 1, 2 at the centre of the covered area, so every output token can be
    traced back. Frame indices and timestamps follow ``frame_index_of`` / ``timestamp_of``.
    """

    @staticmethod
    def frame_index_of(pos: torch.Tensor) -> torch.Tensor:
        """Sampled-frame index of row ``pos`` (not the row itself, on purpose)."""
        return pos * 3 + 7

    @staticmethod
    def timestamp_of(frame_index: torch.Tensor) -> torch.Tensor:
        return frame_index.to(torch.float64) * 0.5 + 2.0

    def __call__(self, t: int, grid: tuple[int, int], d: int = 8, *, seed: int = 0, dtype=torch.float32,
                 device="cpu") -> FrameFeatures:
        assert d >= 3
        h, w = grid
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(t, h * w, d, generator=g)
        fi = self.frame_index_of(torch.arange(t))
        x[:, :, 0] = fi[:, None].float()
        x[:, :, 1] = torch.arange(h).repeat_interleave(w).float()
        x[:, :, 2] = torch.arange(w).repeat(h).float()
        return FrameFeatures(x.to(device=device, dtype=dtype), grid, self.timestamp_of(fi), fi)


@pytest.fixture(scope="session")
def coded() -> CodedFeatures:
    return CodedFeatures()
