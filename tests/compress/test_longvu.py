"""LongVU's stages on hand-built features where the right answer is known."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from longvid.compress import Query, create_compressor, plan_budget
from longvid.compress.longvu import LongVU, LongVUStream
from longvid.compress.mixed_resolution import MixedResolutionConfig
from longvid.compress.stc import STCConfig, fit_mask, stc_keep_mask
from longvid.compress.temporal import TemporalConfig, TemporalReducer, kept_positions, temporal_reduce
from longvid.errors import InvalidFeaturesError
from longvid.types import FrameFeatures


def wrap(x: torch.Tensor, grid) -> FrameFeatures:
    t = x.shape[0]
    return FrameFeatures(x, grid, torch.arange(t, dtype=torch.float64), torch.arange(t))


# ----------------------------------------------------------------------------- temporal reduction
def test_duplicates_dropped_distinct_kept_middle_kept(dtype, device):
    x = torch.zeros(32, 4, 16)
    # window 1: 15 copies of one frame and one distinct frame at position 3
    x[:16, :, 0] = 1.0
    x[3] = 0
    x[3, :, 1] = 1.0
    # window 2: 16 mutually orthogonal frames (mean similarity 1/16)
    for i in range(16):
        x[16 + i, :, 2 + i % 14] = 1.0 if i < 14 else 0.0
    x[30, :, 0] = -1.0
    x[31, :, 1] = -1.0
    res = temporal_reduce(x.to(device=device, dtype=dtype))
    kept = res.kept.tolist()
    assert [k for k in kept if k < 16] == [3, 8], "the duplicates go, the distinct frame and the middle stay"
    assert [k for k in kept if k >= 16] == list(range(16, 32)), "distinct frames are all kept"
    assert res.scores[8] == 0.0
    assert res.scores[0] == pytest.approx(15 / 16, abs=1e-2)


def test_short_last_window_keeps_its_middle():
    x = torch.ones(16 + 5, 2, 3)
    res = temporal_reduce(x)
    assert res.kept.tolist() == [8, 16 + 2]


def test_guard_subsamples_to_400_uniformly():
    x = torch.randn(16 * 30, 64)  # random high-dimensional frames: nearly orthogonal, all kept
    res = temporal_reduce(x)
    assert res.kept.numel() == 400
    assert res.kept.unique().numel() == 400
    gaps = res.kept.diff()
    assert int(gaps.min()) >= 1 and int(gaps.max()) <= 2


@pytest.mark.parametrize("t, applied", [(99, False), (100, True), (150, True)])
def test_applies_when_frames_reach_budget_over_64(t, applied):
    x = torch.ones(t, 2, 3)
    res = temporal_reduce(x, budget=6400)  # 6400 // 64 = 100
    assert res.applied is applied
    assert (res.kept.numel() < t) is applied


def test_streaming_reducer_matches_batch_whatever_the_chunking():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(9, 40, generator=g)
    x = base.repeat_interleave(11, 0)[:93] + 0.3 * torch.randn(93, 40, generator=g)
    whole = temporal_reduce(x, config=TemporalConfig(max_frames=None)).kept
    red = TemporalReducer()
    settled, i = [], 0
    for n in [1, 5, 16, 3, 30, 7, 31]:
        settled.extend(red.push(x[i:i + n], list(range(i, i + n))))
        i += n
    settled.extend(red.finish())
    assert [s.position for s in settled] == list(range(93)), "every frame settles once, in push order"
    assert [s.payload for s in settled] == list(range(93)), "each payload travels with its frame"
    assert torch.equal(kept_positions(settled), whole)


# ----------------------------------------------------------------------------- mixed resolution
def test_query_matching_frame_is_upgraded(dtype, device):
    t, d = 12, 16
    g = torch.Generator().manual_seed(3)
    x = 0.1 * torch.randn(t, 144, d, generator=g)
    x[7, :, 5] += 3.0  # frame 7 shows what the question asks about
    q = torch.zeros(4, d)
    q[:, 5] = 1.0
    budget = t * 64 + 80  # room for exactly one upgrade: k = 80 // (144 - 64) = 1
    comp = create_compressor("longvu_mixed_resolution")
    out = comp(wrap(x.to(device, dtype), (12, 12)), budget=budget, query=Query(text="the red car", embedding=q.to(device, dtype)))
    per = out.tokens_per_frame()
    assert per[7] == 144
    assert all(per[f] == 64 for f in range(t) if f != 7)
    assert len(out) == budget
    hi = out.frame_indices == 7
    assert bool((out.cell_grids[hi] == torch.tensor([12, 12])).all())
    assert bool((out.cell_grids[~hi] == torch.tensor([8, 8])).all())
    # the low-resolution tokens are the bilinear resize of the frame
    low0 = F.interpolate(x[0].T.reshape(1, d, 12, 12).float(), size=(8, 8), mode="bilinear",
                         align_corners=False).reshape(d, 64).T
    got0 = out.tokens[out.frame_indices == 0].float().cpu()
    torch.testing.assert_close(got0, low0.to(dtype).float(), rtol=2e-2, atol=2e-2)


def test_k_upgrades_follow_the_budget():
    x = torch.randn(10, 144, 8)
    q = Query(embedding=torch.randn(2, 8))
    comp = create_compressor("longvu_mixed_resolution")
    for k in range(11):
        budget = 640 + 80 * k + 79
        out = comp(wrap(x, (12, 12)), budget=budget, query=q)
        assert sum(v == 144 for v in out.tokens_per_frame().values()) == k
        assert len(out) == comp.num_output_tokens(num_frames=10, grid=(12, 12), budget=budget)


def test_without_query_upgrades_are_spread_and_noted():
    out = create_compressor("longvu_mixed_resolution")(wrap(torch.randn(8, 144, 4), (12, 12)), budget=8 * 64 + 160)
    per = out.tokens_per_frame()
    assert [f for f, v in per.items() if v == 144] == [2, 6]
    assert "no query" in out.stats[-1].note


def test_low_grid_is_configurable_for_a_24x24_input():
    comp = LongVU(temporal=None, mixed_resolution=MixedResolutionConfig(low_grid=(12, 12)), stc=None)
    out = comp(wrap(torch.randn(4, 576, 4), (24, 24)), budget=4 * 144)
    assert out.tokens_per_frame() == {0: 144, 1: 144, 2: 144, 3: 144}


# ----------------------------------------------------------------------------- spatial token compression
def static_and_moving(t: int, d: int = 64) -> torch.Tensor:
    """4x4 grid: cells 0-7 never change, cells 8-15 change every frame."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 16, d, generator=g).repeat(t, 1, 1)
    x[:, 8:] = torch.randn(t, 8, d, generator=g)
    return x


def test_static_regions_pruned_moving_kept(dtype, device):
    x = static_and_moving(8).to(device, dtype)
    out = create_compressor("longvu_stc")(wrap(x, (4, 4)), budget=100)
    per = out.tokens_per_frame()
    assert per[0] == 16, "the chunk's first frame keeps every token"
    for f in range(1, 8):
        cells = out.cells[out.frame_indices == f].tolist()
        assert cells == list(range(8, 16)), "only the moving cells survive"
    assert len(out) == 16 + 7 * 8


def test_stc_fallback_drops_equally_from_chunk_ends_then_truncates():
    x = static_and_moving(16)
    mask = stc_keep_mask(x)
    assert int(mask.sum()) == 2 * 72
    fitted, note = fit_mask(mask, 100, 8)
    # excess 44 over 2 chunks: 22 from the end of each
    assert int(fitted[:8].sum()) == 50 and int(fitted[8:].sum()) == 50
    seq = torch.nonzero(mask[:8].reshape(-1)).flatten()
    assert torch.equal(torch.nonzero(fitted[:8].reshape(-1)).flatten(), seq[:50])
    fitted, note = fit_mask(mask, 101, 8)  # odd excess: floor per chunk, then truncation
    assert int(fitted.sum()) == 101 and "truncated" in note


def test_stc_threshold_is_configurable():
    x = static_and_moving(8)
    x[1:, :8] += 0.8 * torch.randn(7, 8, 64)  # static cells drift a little
    strict = stc_keep_mask(x, STCConfig(threshold=0.1))
    loose = stc_keep_mask(x, STCConfig(threshold=0.99))
    assert int(strict.sum()) < int(loose.sum())


# ----------------------------------------------------------------------------- the whole pipeline
def test_full_longvu_paths_and_streaming_equivalence():
    g = torch.Generator().manual_seed(9)
    scenes = torch.randn(12, 144, 16, generator=g)
    x = scenes.repeat_interleave(25, 0) + 0.05 * torch.randn(300, 144, 16, generator=g)
    feats = FrameFeatures(x, (12, 12), torch.arange(300) * 0.5, torch.arange(300) + 1000)
    q = Query(embedding=torch.randn(3, 16, generator=g))
    comp = create_compressor("longvu")
    for budget in (300, 2_000, 8_000, 300 * 64, 60_000):
        out = comp(feats, budget=budget, query=q)
        assert len(out) <= budget
        assert out.stats[0].stage == "temporal"
        if 300 >= budget // 64:
            assert out.stats[0].frames_out < 300, "near-duplicates removed"
        else:
            assert out.stats[0].frames_out == 300 and "not applied" in out.stats[0].note
            assert len(out) == 300 * 144
        chunks = []
        for i, n in enumerate([7, 64, 1, 100, 128]):
            s = sum([7, 64, 1, 100, 128][:i])
            chunks.append(FrameFeatures(x[s:s + n], (12, 12), feats.timestamps_s[s:s + n],
                                        feats.frame_indices[s:s + n]))
        streamed = comp.stream(chunks, budget=budget, query=q)
        assert torch.equal(streamed.tokens, out.tokens)
        assert torch.equal(streamed.frame_indices, out.frame_indices)
        assert torch.equal(streamed.cells, out.cells)


def test_full_longvu_reaches_stc_when_even_low_resolution_overflows():
    x = torch.randn(64, 144, 8)  # all distinct: temporal reduction keeps nearly all
    out = create_compressor("longvu")(wrap(x, (12, 12)), budget=1000)
    stages = [s.stage for s in out.stats]
    assert stages == ["temporal", "mixed_resolution", "stc"]
    assert len(out) == 1000  # random tokens are dissimilar: STC keeps too many, fallbacks trim to the budget
    assert bool((out.cell_grids == torch.tensor([8, 8])).all())


def test_token_count_exact_without_temporal_reduction():
    comp = create_compressor("longvu")
    c = comp.token_count(num_frames=10, grid=(12, 12), budget=100_000)  # 10 < 100000 // 64
    assert c.exact and c.tokens == 1440
    c = comp.token_count(num_frames=3600, grid=(12, 12), budget=8000)
    assert not c.exact and c.tokens == 8000


def test_coded_features_through_longvu_keep_provenance(coded):
    feats = coded(40, (12, 12), d=8)
    out = create_compressor("longvu")(feats, budget=40 * 64 + 160)
    assert bool((out.tokens[:, 0] == out.frame_indices.float()).all())


def test_stream_releases_high_resolution_once_no_frame_can_be_upgraded():
    d, budget = 32, 640  # low = 64 tokens: more than 10 survivors can never be upgraded
    comp = create_compressor("longvu")
    s = LongVUStream(comp, budget=budget, grid=(12, 12), query=None, num_frames=None)
    g = torch.Generator().manual_seed(0)
    for i in range(0, 160, 16):
        x = torch.randn(16, 144, d, generator=g)  # distinct frames: nearly all survive
        s.push(FrameFeatures(x, (12, 12), torch.arange(i, i + 16) * 1.0, torch.arange(i, i + 16)))
    low_bytes = 64 * d * 4
    assert s.held_bytes() <= 160 * low_bytes + 16 * 144 * d * 4  # survivors at low res + one window
    out = s.finish()
    assert len(out) == budget and out.stats[-1].stage == "stc"


# ----------------------------------------------------------------------------- each stage's own effect
def staged_video(highlight: tuple[int, ...] = ()) -> FrameFeatures:
    """48 frames on a 12x12 grid, built so that every LongVU stage has a known effect.

    Window 0 (frames 0-15) is one still frame: temporal reduction keeps only its middle (8).
    Frames 16-47 are distinct. In every frame the top half of the grid (rows 0-5) is one static
    image and the bottom half is new noise, so after the 8x8 resize low rows 0-3 (cells 0-31)
    repeat the chunk's first frame (STC drops them) and low rows 4-7 (cells 32-63) do not.
    ``highlight`` frames get a strong channel 5, which the query asks for.
    """
    g = torch.Generator().manual_seed(11)
    d = 16
    static = torch.randn(72, d, generator=g)
    x = torch.empty(48, 144, d)
    x[:, :72] = static
    x[:, 72:] = torch.randn(48, 72, d, generator=g)
    x[:16, 72:] = x[0, 72:]  # window 0: a still shot
    for f in highlight:
        x[f, :, 5] += 3.0
    return FrameFeatures(x, (12, 12), torch.arange(48) * 0.5, torch.arange(48))


SURVIVORS = [8, *range(16, 48)]  # what temporal reduction keeps of staged_video: 33 frames


def check_every_stage(comp) -> None:
    """Assert the effect of each of LongVU's three stages; fails if any stage is missing."""
    q = torch.zeros(2, 16)
    q[:, 5] = 1.0
    upgraded = (20, 30, 40)
    # budget 1: the 33 survivors fit at low resolution with room for exactly 3 upgrades
    budget = 33 * 64 + 3 * (144 - 64) + 10
    out = comp(staged_video(upgraded), budget=budget, query=Query(embedding=q))
    per = out.tokens_per_frame()
    assert sorted(per) == SURVIVORS, "stage 1: the still shot's duplicates are dropped, distinct frames kept"
    assert out.stats[0].stage == "temporal" and out.stats[0].frames_out == 33
    high = sorted(f for f, n in per.items() if n == 144)
    assert high == list(upgraded), "stage 2: exactly k = 3 frames, the query's, at high resolution"
    assert all(per[f] == 64 for f in SURVIVORS if f not in upgraded), "stage 2: the rest at low resolution"
    is_high = torch.isin(out.frame_indices, torch.tensor(upgraded))
    assert bool((out.cell_grids[is_high] == torch.tensor([12, 12])).all())
    assert bool((out.cell_grids[~is_high] == torch.tensor([8, 8])).all())
    # budget 2: even low resolution overflows (33 * 64 = 2112), so STC prunes within chunks of 8
    out = comp(staged_video(), budget=1500)
    assert [s.stage for s in out.stats] == ["temporal", "mixed_resolution", "stc"]
    assert sorted(out.tokens_per_frame()) == SURVIVORS, "stage 3 drops tokens, not frames"
    for i, f in enumerate(SURVIVORS):
        cells = out.cells[out.frame_indices == f].tolist()
        if i % 8 == 0:
            assert cells == list(range(64)), "stage 3: a chunk's first frame keeps every token"
        else:
            assert cells == list(range(32, 64)), "stage 3: tokens repeating the chunk's first frame go"
    assert len(out) == 5 * 64 + 28 * 32
    assert bool((out.cell_grids == torch.tensor([8, 8])).all())


def test_longvu_tight_budget_runs_every_stage():
    check_every_stage(create_compressor("longvu"))


@pytest.mark.parametrize("stage", ["temporal", "mixed_resolution", "stc"])
def test_every_stage_check_fails_without_that_stage(stage):
    """The per-stage check above is not vacuous: dropping any one stage breaks it."""
    with pytest.raises(AssertionError):
        check_every_stage(LongVU(**{stage: None}))


# ----------------------------------------------------------------------------- one low grid
def test_lowres_token_sets_the_low_grid_and_the_temporal_divisor():
    x = torch.randn(50, 144, 8)
    feats = wrap(x, (12, 12))
    # 3000 // 64 = 46 <= 50 frames: the default 8x8 grid reduces; 3000 // 36 = 83 > 50: a 6x6 one does not
    assert create_compressor("longvu").token_count(num_frames=50, grid=(12, 12), budget=3000).exact is False
    comp = create_compressor("longvu", lowres_token=6)
    out = comp(feats, budget=3000)
    assert "not applied" in out.stats[0].note and "budget // 36" in out.stats[0].note
    low = out.cell_grids[:, 0] < 12
    assert low.any() and bool((out.cell_grids[low] == torch.tensor([6, 6])).all())
    assert sum(v == 36 for v in out.tokens_per_frame().values()) > 0
    assert comp.token_count(num_frames=50, grid=(12, 12), budget=3000).tokens == len(out)
    same = LongVU(mixed_resolution=MixedResolutionConfig.square(6))
    assert torch.equal(same(feats, budget=3000).tokens, out.tokens)
    assert any("budget // 36" in line for line in plan_budget(3016, 0, 50, (12, 12),
                                                              options={"lowres_token": 6}).report)


@pytest.mark.parametrize("options", [
    {"lowres_token": 0}, {"lowres_token": True}, {"lowres_token": "6"}, {"lowres_token": 6.0},
    {"lowres_token": 6, "mixed_resolution": MixedResolutionConfig(low_grid=(8, 8))},  # contradiction
    {"temporal": TemporalConfig(budget_divisor=50)},  # contradicts the 8x8 = 64 low grid
    {"lowres_token": 6, "temporal": None, "mixed_resolution": None},  # nothing would use it
])
def test_wrong_or_contradictory_low_grid_options_raise(options):
    with pytest.raises(InvalidFeaturesError):
        create_compressor("longvu", **options)


def test_low_grid_checks():
    assert MixedResolutionConfig(low_grid=[6, 6]).low_grid == (6, 6)  # a list read from JSON
    for bad in [(0, 8), (8,), (8.0, 8.0), 8]:
        with pytest.raises(InvalidFeaturesError):
            MixedResolutionConfig(low_grid=bad)
    with pytest.raises(InvalidFeaturesError, match="exceeds"):  # a checkpoint's low side above its grid
        create_compressor("longvu", lowres_token=16)(wrap(torch.randn(4, 144, 4), (12, 12)), budget=100)
    # TemporalConfig alone keeps LongVU's default divisor (the 8x8 grid's 64 tokens)
    assert TemporalConfig().divisor() == 64 and TemporalConfig(budget_divisor=10).divisor() == 10
    assert TemporalConfig().divisor(low_tokens=36) == 36
    # without the mixed-resolution stage an explicit divisor contradicts nothing
    assert LongVU(mixed_resolution=None, temporal=TemporalConfig(budget_divisor=10)).low_tokens == 64
