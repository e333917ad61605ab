"""Preprocessing order against the released one, computed here with PIL: pad the decoded frame to a
square with the tower's mean colour (PIL ``expand2square`` offsets), then one PIL bicubic resize to
the tower's input. longvid pads at the frame's own resolution and resizes once per tower with
antialiased torch bicubic; the residual difference is PIL's 8-bit intermediate rounding."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from longvid.encoders.vision import DINOV2_GIANT_378, SIGLIP_SO400M_384, preprocess


def released_pixels(frame: np.ndarray, spec) -> np.ndarray:
    """expand2square with int(mean * 255), then PIL's bicubic resize to the input side (0..255)."""
    im = Image.fromarray(frame)
    w, h = im.size
    s = max(w, h)
    sq = Image.new("RGB", (s, s), tuple(int(m * 255) for m in spec.mean))
    sq.paste(im, ((s - w) // 2, (s - h) // 2))
    return np.asarray(sq.resize((spec.image_size, spec.image_size), Image.BICUBIC)).astype(np.float64)


def to_pixels(x: torch.Tensor, spec) -> np.ndarray:
    m = torch.tensor(spec.mean).view(1, 3, 1, 1)
    s = torch.tensor(spec.std).view(1, 3, 1, 1)
    return ((x * s + m) * 255).permute(0, 2, 3, 1).numpy()


def frame(w: int = 640, h: int = 360) -> np.ndarray:
    """A landscape frame with flat areas, sharp edges and a gradient."""
    g = np.random.default_rng(0)
    f = np.zeros((h, w, 3), np.uint8)
    f[:] = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None]
    for _ in range(12):
        y, x = g.integers(0, h - 40), g.integers(0, w - 60)
        f[y:y + 40, x:x + 60] = g.integers(0, 256, 3)
    return f


@pytest.mark.parametrize("spec", [SIGLIP_SO400M_384, DINOV2_GIANT_378], ids=["siglip", "dinov2"])
def test_pad_then_resize_matches_the_released_order(spec):
    f = frame()
    ref = released_pixels(f, spec)
    ours = to_pixels(preprocess(f[None], spec), spec)[0]
    d = np.abs(ours - ref)
    # PIL rounds to 8 bits (twice: one pass per axis); ours stays float
    assert d.mean() < 0.3 and np.percentile(d, 99) < 2.0 and d.max() < 8, (d.mean(), d.max())


def test_longvu_samples_at_the_frames_own_resolution():
    from longvid.models.longvu.model import NATIVE_PAD_SIDE, LongVUModel

    assert LongVUModel.sampling_side((1280, 720)) is None
    assert LongVUModel.sampling_side((3840, 2160)) == NATIVE_PAD_SIDE
