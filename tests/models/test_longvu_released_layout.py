"""Stages 2 and 3 of released LongVU checkpoints against reference computations written here
from the released code's documented behaviour: the high-resolution frame count with newlines
counted and its band test, STC at high resolution when N > M // 64, and STC over frames that
still hold their newline column. Tiny tensors, exact counts and kept tokens."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from longvid.compress import Query, create_compressor
from longvid.models.longvu.released import released_layout, released_plan
from longvid.types import FrameFeatures

D = 16


def ref_sequences(x: torch.Tensor, side: int, newline: torch.Tensor) -> list[torch.Tensor]:
    """Each frame's rows followed by the newline, as the released code concatenates them."""
    out = []
    for f in x:
        rows = f.reshape(side, side, -1)
        out.append(torch.cat([rows, newline.view(1, 1, -1).expand(side, 1, -1)], 1).reshape(-1, f.shape[-1]))
    return out


def ref_released(high, low, newline, query, m, threshold=0.7):
    """The released stage 2/3 for one video, step by step (12x12 high, 8x8 low)."""
    n = high.shape[0]
    max_num_frames = max(1, math.floor(m // 144))
    max_num_frames_low = max(1, math.floor(m // 64))
    mix = True
    if n < max_num_frames:
        mix = False
    elif n > max_num_frames_low:
        mix = False
    hi = ref_sequences(high, 12, newline)
    frames = ref_sequences(low, 8, newline) if mix else hi
    visual = torch.cat(frames)
    mixed = False
    if mix and m > len(visual):
        k = math.floor((m - len(visual)) / (hi[0].shape[0] - frames[0].shape[0]))
        if k >= 1:
            mixed = True
            sim = (visual @ query.T).mean(-1).reshape(n, -1).mean(-1)
            top = torch.sort(torch.argsort(sim, descending=True, stable=True)[:min(k, n)]).values.tolist()
            visual = torch.cat([hi[i] if i in top else frames[i] for i in range(n)])
    if m < len(visual) and not mixed:
        chunks = []
        for s in range(0, n, 8):
            c = torch.stack(frames[s:s + 8])
            if len(c) == 1:
                chunks.append(c[0])
                continue
            sim = F.cosine_similarity(c[0].unsqueeze(0).repeat_interleave(len(c) - 1, 0), c[1:], dim=-1)
            chunks.append(torch.cat([c[0], c[1:].flatten(0, 1)[sim.flatten(0, 1) < threshold]]))
        total = sum(len(c) for c in chunks)
        if total > m:
            drop = math.ceil((total - m) / len(chunks))
            chunks = [c[:-drop] for c in chunks]
        visual = torch.cat(chunks)[:m]
    return visual


def frames(n: int, seed: int = 0):
    """Frames whose cells partly repeat their chunk's first frame, so STC keeps some of them."""
    g = torch.Generator().manual_seed(seed)
    high = torch.randn(n, 144, D, generator=g)
    anchor = torch.arange(n) // 8 * 8
    same = torch.rand(n, 144, generator=g) < 0.5
    high = torch.where(same[..., None], high[anchor] + 0.1 * torch.randn(n, 144, D, generator=g), high)
    low = F.interpolate(high.reshape(n, 12, 12, D).permute(0, 3, 1, 2), size=(8, 8), mode="bilinear",
                        align_corners=False).permute(0, 2, 3, 1).reshape(n, 64, D)
    newline = torch.randn(D, generator=g)
    query = torch.randn(5, D, generator=g)
    return high, low, newline, query


def ours(high, low, newline, query, m):
    return released_layout(high, low, newline, query, m, high_grid=(12, 12), low_grid=(8, 8), threshold=0.7)


# ---------------------------------------------------------------- point 5: k with newlines, band test
@pytest.mark.parametrize("m", [1165, 2000, 8125])
def test_high_resolution_frame_count_counts_newlines(m):
    for n in range(1, 140):
        plan = released_plan(n, m)
        if n < m // 144:
            assert (plan.resolution, plan.upgrades) == ("high", 0)
        elif n > m // 64:
            assert plan.resolution == "high" and plan.upgrades == 0 and plan.stc == (156 * n > m)
        else:
            want = max(0, math.floor((m - 72 * n) / 84)) if m > 72 * n else 0
            assert plan.upgrades == min(want, n), (n, m)


def test_mixed_layout_matches_release_and_differs_from_longvid_count():
    differs = 0
    m = 1165  # a budget of 1166 less the <image> id
    for n in range(m // 144, m // 64 + 1):
        high, low, newline, query = frames(n, seed=n)
        ref = ref_released(high, low, newline, query, m)
        lay = ours(high, low, newline, query, m)
        assert torch.equal(lay.tokens, ref), n
        k = lay.plan.upgrades
        assert len(lay.tokens) == (72 * n + 84 * k if k else min(72 * n, m) if not lay.plan.stc else len(ref))
        # longvid's own compressor plans on bare tokens and then shrinks the budget for newlines
        comp = create_compressor("longvu", temporal=None)
        vt = comp(FrameFeatures(high, (12, 12), torch.arange(n, dtype=torch.float64), torch.arange(n)),
                  budget=m - n * 12, query=Query(embedding=query))
        differs += int(((vt.cell_grids[:, 0] == 12).sum() // 144)) != k
    assert differs > 0


# ---------------------------------------------------------------- point 3: STC at high resolution
def test_over_low_budget_compresses_high_resolution_frames():
    n, m = 30, 1165  # 30 > 1165 // 64 = 18
    high, low, newline, query = frames(n)
    lay = ours(high, low, newline, query, m)
    assert lay.plan.resolution == "high" and lay.plan.stc
    assert bool((lay.grids[:, 0] == 12).all())
    ref = ref_released(high, low, newline, query, m)
    assert torch.equal(lay.tokens, ref)
    assert len(lay.tokens) == m


# ---------------------------------------------------------------- point 4: newlines inside STC
def test_stc_frames_two_to_eight_lose_their_newlines():
    n, m = 24, 24 * 156 - 1  # 24 < m // 144: high band, but 24 * 156 > m: STC over frames with newlines
    high, low, newline, query = frames(n, seed=3)
    lay = ours(high, low, newline, query, m)
    assert lay.plan.resolution == "high" and lay.plan.stc
    assert torch.equal(lay.tokens, ref_released(high, low, newline, query, m))
    nl = lay.cells == -1
    per_frame = torch.bincount(lay.positions[nl], minlength=n)
    assert per_frame[::8].tolist() == [12, 12, 12]  # chunk-first frames keep all 12 newlines
    assert int(per_frame.sum()) == 36  # the others' newlines equal their anchor's: all pruned


# ---------------------------------------------------------------- end to end through a tiny checkpoint
def test_tight_budget_end_to_end_uses_released_layout(longvu_dir, short_video):
    """12 frames, a 264-token budget: M = 263 and 12 > 263 // 64, so STC runs on the 12x12 frames
    with their newlines (longvid's own ``longvu`` compressor would compress 8x8 frames)."""
    pytest.importorskip("transformers")
    from longvid.models.engine import load_engine
    from longvid.models.generate import GenerationConfig

    eng = load_engine(str(longvu_dir.folder), vision_towers=longvu_dir.vision_towers, context_length=300,
                      generation=GenerationConfig(max_new_tokens=1, do_sample=False))
    r = eng.run(str(short_video), "what color is the square?")
    vt = r.visual_tokens
    temporal, mixed, stc = vt.stats
    m = r.budget - 1  # the released budget counts the <image> id
    assert mixed.frames_in == temporal.frames_out and mixed.frames_in > m // 64
    # 160x96 frames, unpadded as trained: the pair (96, 160) read as (w, h) keeps int(96 * 12 / 160) = 7
    # -> the middle 12 - 2 * ((12 - 7) // 2) = 8 columns of all 12 rows, each row ending in a newline
    assert mixed.tokens_out == mixed.frames_in * 12 * (8 + 1) and stc.tokens_in == mixed.tokens_out
    assert stc.tokens_out == len(vt) <= m
    cells = vt.cells >= 0
    assert {tuple(g) for g in vt.cell_grids[cells].tolist()} == {(12, 12)}
