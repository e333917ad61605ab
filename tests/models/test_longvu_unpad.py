"""Unpadding of non-square frames in the released LongVU layout, against a reference written here
from the released code's documented behaviour: the final token grid (B, h, w, C) is trimmed with
the frame size pair read as (width, height), newlines end only the rows left, and the low grid is
trimmed with that pair divided by (12 / 8). Tiny tensors, then a 1280x720 video end to end."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from longvid.models.longvu.released import released_layout

D = 8


def ref_unpad(t: torch.Tensor, size) -> torch.Tensor:
    """Trim a (1, H, W, C) token grid as the released code does, ``size`` read as (width, height)."""
    ow, oh = size
    ch, cw = t.shape[1:3]
    if ow / oh > cw / ch:
        new_h = int(oh * (cw / ow))
        pad = (ch - new_h) // 2
        return t[:, pad:ch - pad, :]
    new_w = int(ow * (ch / oh))
    pad = (cw - new_w) // 2
    return t[:, :, pad:cw - pad]


def ref_frame(t: torch.Tensor, side: int, size, newline: torch.Tensor) -> torch.Tensor:
    """One frame's tokens (side*side, C) -> trimmed rows, each followed by the newline."""
    g = ref_unpad(t.reshape(1, side, side, -1), size)
    rows = g.shape[1]
    return torch.cat([g, newline.view(1, 1, 1, -1).expand(1, rows, 1, -1)], 2).reshape(-1, t.shape[-1])


def ref_cells(side: int, size) -> list[int]:
    """Cell ids (row-major on the full grid, -1 for a newline) of the trimmed frame."""
    ids = torch.arange(side * side, dtype=torch.float32).reshape(1, side, side, 1)
    return ref_frame(ids.reshape(side * side, 1), side, size, torch.tensor([-1.0])).flatten().long().tolist()


def tensors(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 144, D, generator=g), torch.randn(n, 64, D, generator=g),
            torch.randn(D, generator=g), torch.randn(3, D, generator=g))


@pytest.mark.parametrize("pair, high_rc, low_rc", [
    ((1280, 720), (6, 12), (4, 8)),   # the true (w, h): rows trimmed
    ((720, 1280), (12, 6), (8, 4)),   # the (h, w) the released scripts pass, read as (w, h): columns trimmed
])
def test_counts_and_cells_for_1280x720(pair, high_rc, low_rc):
    n = 6
    high, low, newline, query = tensors(n)
    lay = released_layout(high, None, newline, query, 10_000, high_grid=(12, 12), low_grid=(8, 8),
                          threshold=0.7, size=pair)
    assert len(lay.tokens) == n * high_rc[0] * (high_rc[1] + 1)
    ref = torch.cat([ref_frame(high[i], 12, pair, newline) for i in range(n)])
    assert torch.equal(lay.tokens, ref)
    assert lay.cells.tolist() == ref_cells(12, pair) * n
    assert lay.positions.tolist() == [i for i in range(n) for _ in range(high_rc[0] * (high_rc[1] + 1))]
    # the low grid: the pair divided by 12 / 8 and truncated, then trimmed the same way
    low_pair = (int(pair[0] / 1.5), int(pair[1] / 1.5))
    assert ref_unpad(low[0].reshape(1, 8, 8, D), low_pair).shape[1:3] == low_rc
    m = n * 64  # in the band (bare grids): every frame starts low, the top k are upgraded
    lows = [ref_frame(low[i], 8, low_pair, newline) for i in range(n)]
    highs = [ref_frame(high[i], 12, pair, newline) for i in range(n)]
    visual = torch.cat(lows)
    k = math.floor((m - len(visual)) / (len(highs[0]) - len(lows[0])))
    assert 1 <= k < n
    sim = (visual @ query.T).mean(-1).reshape(n, -1).mean(-1)
    top = set(torch.argsort(sim, descending=True, stable=True)[:k].tolist())
    lay = released_layout(high, low, newline, query, m, high_grid=(12, 12), low_grid=(8, 8), threshold=0.7,
                          size=pair)
    assert lay.plan.resolution == "low" and lay.plan.upgrades == k and not lay.plan.stc
    assert torch.equal(lay.tokens, torch.cat([highs[i] if i in top else lows[i] for i in range(n)]))
    want = [c for i in range(n) for c in (ref_cells(12, pair) if i in top else ref_cells(8, low_pair))]
    assert lay.cells.tolist() == want


def test_upgrade_count_uses_unpadded_frame_sizes():
    """k = floor((M - N * low) / (high - low)) with the trimmed per-frame sizes, newlines included."""
    n, pair = 6, (1280, 720)
    high, low, newline, query = tensors(n, seed=1)
    per_high, per_low = 6 * 13, 4 * 9
    for m in range(n * per_low + 1, 6 * 144):
        if not (m // 144 <= n <= m // 64):
            continue
        lay = released_layout(high, low, newline, query, m, high_grid=(12, 12), low_grid=(8, 8), threshold=0.7,
                              size=pair)
        k = math.floor((m - n * per_low) / (per_high - per_low))
        assert lay.plan.upgrades == min(k, n) if k >= 1 else lay.plan.upgrades == 0, m
        up = min(max(k, 0), n)
        assert len(lay.tokens) == n * per_low + up * (per_high - per_low)


def test_square_and_no_size_keep_the_full_grid():
    high, _, newline, query = tensors(2)
    for size in (None, (500, 500)):
        lay = released_layout(high, None, newline, query, 10_000, high_grid=(12, 12), low_grid=(8, 8),
                              threshold=0.7, size=size)
        assert len(lay.tokens) == 2 * 156


def test_stc_runs_on_unpadded_frames():
    """Over budget at high resolution (no low frames: ``highres`` off): STC compares the trimmed
    frames (84 tokens each, as trained)."""
    n, pair = 20, (720, 1280)
    high, _, newline, query = tensors(n, seed=2)
    high[1:8] = high[0]  # frames 2-8 of the first chunk repeat their anchor: STC drops them
    m = n * 84 - 1
    lay = released_layout(high, None, newline, query, m, high_grid=(12, 12), low_grid=(8, 8), threshold=0.7,
                          size=pair)
    assert lay.plan.stc and lay.before_stc == n * 84
    kept = torch.bincount(lay.positions, minlength=n)
    assert kept[1:8].tolist() == [0] * 7 and kept[0] == 84
    assert set(lay.cells.tolist()) <= set(ref_cells(12, pair))


# ---------------------------------------------------------------- end to end: a 1280x720 video
@pytest.fixture(scope="module")
def hd_video(tmp_path_factory):
    from longvid.synth.testvideo import make_video

    d = tmp_path_factory.mktemp("hd")
    return str(make_video(d / "hd.mp4", duration_s=3.0, fps=2, size=(1280, 720),
                          scenes=((0.0, (200, 40, 40), "red"), (1.5, (40, 200, 40), "green"))))


def test_1280x720_video_end_to_end(longvu_dir, hd_video):
    pytest.importorskip("transformers")
    from longvid.models.engine import load_engine
    from longvid.models.generate import GenerationConfig

    eng = load_engine(str(longvu_dir.folder), vision_towers=longvu_dir.vision_towers, num_frames=6,
                      context_length=450, generation=GenerationConfig(max_new_tokens=1, do_sample=False))
    r = eng.run(hd_video, "what color is the frame?")
    vt = r.visual_tokens
    temporal = vt.stats[0]
    n, m = temporal.frames_out, r.budget - 1
    assert n == 6 and m // 144 <= n <= m // 64  # in the mixed-resolution band
    # as trained: (720, 1280) read as (w, h): 12 rows x 6 columns high, 8 x 4 low, each row + a newline
    per_high, per_low = 12 * 7, 8 * 5
    k = min(n, math.floor((m - n * per_low) / (per_high - per_low)))
    assert 1 <= k < n and len(vt) == n * per_low + k * (per_high - per_low)
    hi = vt.cell_grids[:, 0] == 12
    assert set(vt.cells[hi].tolist()) == set(ref_cells(12, (720, 1280)))
    assert set(vt.cells[~hi].tolist()) == set(ref_cells(8, (480, 853)))
    # provenance: every token's frame and time are a sampled frame's
    times = dict(zip(vt.frame_indices.tolist(), vt.timestamps_s.tolist()))
    assert len(times) == n and all(0.0 <= t < 3.0 for t in times.values())
    assert int(hi.sum()) == k * per_high

    # the corrected reading: the true (1280, 720): 6 rows x 12 columns high, 4 x 8 low
    eng.model.config = replace(eng.model.config, size_reading="corrected")
    r2 = eng.run(hd_video, "what color is the frame?")
    vt2 = r2.visual_tokens
    per_high, per_low = 6 * 13, 4 * 9
    k2 = min(n, math.floor((m - n * per_low) / (per_high - per_low)))
    assert len(vt2) == n * per_low + k2 * (per_high - per_low)
    hi2 = vt2.cell_grids[:, 0] == 12
    assert set(vt2.cells[hi2].tolist()) == set(ref_cells(12, (1280, 720)))


def ref_unmask(side: int, size) -> torch.Tensor:
    """The released aggregator mask of a (side, side) grid, ``size`` read as (width, height)."""
    ow, oh = size
    mask = torch.ones(side, side, dtype=torch.bool)
    if ow / oh > 1:
        pad = (side - int(oh * (side / ow))) // 2
        if pad > 0:
            mask[:pad], mask[-pad:] = False, False
    else:
        pad = (side - int(ow * (side / oh))) // 2
        if pad > 0:
            mask[:, :pad], mask[:, -pad:] = False, False
    return mask


@pytest.mark.parametrize("picture", [(1280, 720), (720, 1280), (160, 96), (500, 500)])
def test_aggregator_mask_follows_the_size_reading(picture):
    from longvid.encoders.preprocess import content_mask
    from longvid.models.longvu.config import LongVUConfig

    base = {"model_type": "cambrian_qwen", "hidden_size": 32,
            "mm_vision_tower_aux_list": ["siglip/CLIP-ViT-SO400M-14-384", "facebook/dinov2-giant-res378"]}
    trained = LongVUConfig.from_dict(base)
    assert trained.size_reading == "as_trained"
    w, h = picture
    assert torch.equal(content_mask((24, 24), trained.read_size(picture)), ref_unmask(24, (h, w)))
    corrected = replace(trained, size_reading="corrected")
    assert torch.equal(content_mask((24, 24), corrected.read_size(picture)), ref_unmask(24, (w, h)))
    with pytest.raises(Exception, match="size_reading"):
        replace(trained, size_reading="hw")
