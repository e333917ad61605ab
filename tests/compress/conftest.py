"""Fixtures for the compression tests (device and dtype sweeps)."""

from __future__ import annotations

import pytest
import torch

from compress_helpers import DEVICES, DTYPES

@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


@pytest.fixture(params=DTYPES, ids=["f32", "bf16"])
def dtype(request) -> torch.dtype:
    return request.param
