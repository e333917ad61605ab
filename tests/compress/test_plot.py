"""The timeline plot: classes per frame and a real PNG on disk."""

from __future__ import annotations

import pytest
import torch

from longvid.compress import Query, create_compressor
from longvid.compress.plot import CLASSES, frame_classes, plot_timeline
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameFeatures


def longvu_tokens():
    g = torch.Generator().manual_seed(0)
    scenes = torch.randn(6, 144, 8, generator=g)
    x = scenes.repeat_interleave(20, 0) + 0.05 * torch.randn(120, 144, 8, generator=g)
    x[50, :, 0] += 4.0
    q = torch.zeros(2, 8)
    q[:, 0] = 1.0
    feats = FrameFeatures(x, (12, 12), torch.arange(120) * 1.0, torch.arange(120))
    budget = 5000  # 120 >= 5000 // 64: temporal reduction runs; the survivors fit at low resolution
    return create_compressor("longvu")(feats, budget=budget, query=Query(embedding=q))


def test_frame_classes_follow_provenance():
    out = longvu_tokens()
    classes, counts = frame_classes(out, range(120))
    names = [CLASSES[c] for c in classes]
    assert "dropped" in names and "high-res" in names and "low-res" in names
    assert names[50] == "high-res" and counts[50] == 144
    assert sum(counts) == len(out)
    summary = create_compressor("llama_vid")(FrameFeatures(torch.randn(4, 4, 3), (2, 2), torch.arange(4) * 1.0,
                                                           torch.arange(4)), budget=100)
    assert frame_classes(summary, range(4))[0] == [1, 1, 1, 1]


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = longvu_tokens()
    path = plot_timeline(out, tmp_path / "sub" / "timeline.png", num_frames=120)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    with pytest.raises(InvalidFeaturesError):
        plot_timeline(out, tmp_path / "x.png", num_frames=10)  # tokens from frames beyond the input
