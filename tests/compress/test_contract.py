"""Every registered compressor (and a few pipelines) over a sweep of sizes and budgets.

Checks the contract: the output fits the budget, the count matches ``token_count`` (equal when
exact, at most when an upper bound), ``BudgetError`` exactly below ``min_budget``, dtype and
device preserved, and provenance exact: each token's frame index, timestamp and cell agree with
the values coded into the features it came from.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longvid.compress import Pipeline, Query, create_compressor, list_compressors
from longvid.errors import BudgetError
from longvid.types import FrameFeatures, VisualTokens

BUILTIN = ["avg_pool_2x2", "bilinear", "llama_vid", "longvu", "longvu_mixed_resolution", "longvu_stc",
           "longvu_temporal", "uniform", "videoxl_window"]
VARIANTS = [
    ("llama_vid", {"content_grid": 2}),
    ("videoxl_window", {"select": "query"}),
    ("videoxl_window", {"ratio": 2}),
    ("uniform", {"max_frames": 3}),
]
PIPELINES = [["uniform", "avg_pool_2x2", "longvu"], ["longvu_temporal", "bilinear", "llama_vid"],
             ["avg_pool_2x2", "videoxl_window"]]


def all_compressors():
    for name in list_compressors():
        yield name, create_compressor(name)
    for name, opts in VARIANTS:
        yield f"{name}{opts}", create_compressor(name, **opts)
    for stages in PIPELINES:
        yield "+".join(stages), Pipeline(stages)


def test_registry_lists_the_builtin_strategies():
    assert set(BUILTIN) <= set(list_compressors())


def check_provenance(out: VisualTokens, feats: FrameFeatures) -> None:
    """Coded channels: 0 = frame index, 1 = row, 2 = col (see the ``coded`` fixture in conftest.py)."""
    h, w = feats.grid
    tok = out.tokens.float().cpu()
    fi = out.frame_indices
    # every token's frame exists in the input and its timestamp is that frame's
    assert set(fi.tolist()) <= set(feats.frame_indices.tolist())
    row = {int(f): i for i, f in enumerate(feats.frame_indices.tolist())}
    src_rows = torch.tensor([row[int(f)] for f in fi.tolist()], dtype=torch.long)
    torch.testing.assert_close(out.timestamps_s, feats.timestamps_s.cpu()[src_rows])
    # the values come from that frame (bf16 rounds integers above 256: relative tolerance)
    torch.testing.assert_close(tok[:, 0], fi.float(), rtol=2 ** -7, atol=1e-3)
    assert out.cell_grids is not None
    gh, gw = out.cell_grids[:, 0].float(), out.cell_grids[:, 1].float()
    assert bool((out.cell_grids[:, 0] <= h).all() and (out.cell_grids[:, 1] <= w).all())
    cell = out.cells
    single = cell >= 0
    assert bool((cell < out.cell_grids[:, 0] * out.cell_grids[:, 1]).all())
    r = (cell // out.cell_grids[:, 1]).float()
    c = (cell % out.cell_grids[:, 1]).float()
    # centre of the output cell in source-grid coordinates; area pooling over uneven bins is
    # within half a source cell of it
    er = (r + 0.5) * h / gh - 0.5
    ec = (c + 0.5) * w / gw - 0.5
    tol = 0.5 + 1e-2
    assert bool(((tok[single, 1] - er[single]).abs() <= tol).all()), "row provenance"
    assert bool(((tok[single, 2] - ec[single]).abs() <= tol).all()), "column provenance"
    # tokens on the source grid are the source tokens themselves
    same = single & (out.cell_grids[:, 0] == h) & (out.cell_grids[:, 1] == w)
    if same.any():
        pos = src_rows[same]
        src = feats.features.cpu()[pos, out.cells[same]]
        assert torch.equal(out.tokens.cpu()[same], src)
    # summary tokens: somewhere inside the frame
    assert bool(((tok[~single, 1] >= -1e-2) & (tok[~single, 1] <= h - 1 + 1e-2)).all())


def run_contract(comp, feats: FrameFeatures, budget: int, query: Query | None) -> None:
    t = len(feats)
    if budget < comp.min_budget(feats.grid):
        with pytest.raises(BudgetError):
            comp(feats, budget=budget, query=query)
        with pytest.raises(BudgetError):
            comp.token_count(num_frames=t, grid=feats.grid, budget=budget)
        return
    out = comp(feats, budget=budget, query=query)
    count = comp.token_count(num_frames=t, grid=feats.grid, budget=budget)
    assert len(out) <= budget
    assert count.tokens <= budget
    if count.exact:
        assert len(out) == count.tokens, (len(out), count)
    else:
        assert len(out) <= count.tokens, (len(out), count)
    assert comp.num_output_tokens(num_frames=t, grid=feats.grid, budget=budget) == count.tokens
    assert out.tokens.dtype == feats.features.dtype
    assert out.tokens.device == feats.features.device
    assert out.stats, "every compressor reports its stages"
    assert len(out) >= 1
    check_provenance(out, feats)
    # frames appear in time order
    assert bool((out.frame_indices[1:] >= out.frame_indices[:-1]).all())


@pytest.mark.parametrize("t", [1, 17, 40])
@pytest.mark.parametrize("grid", [(4, 4), (3, 5)])
def test_contract_sweep(t, grid, dtype, device, coded):
    feats = coded(t, grid, d=6, seed=t, dtype=dtype, device=device)
    query = Query(text="what", embedding=torch.randn(3, 6, generator=torch.Generator().manual_seed(1)))
    for name, comp in all_compressors():
        for budget in (1, 13, 64, 250, 5000):
            for q in (None, query):
                try:
                    run_contract(comp, feats, budget, q)
                except AssertionError as exc:
                    raise AssertionError(f"{name} t={t} grid={grid} budget={budget} query={q is not None}") from exc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(BUILTIN),
    t=st.integers(1, 70),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    budget=st.integers(1, 3000),
    with_query=st.booleans(),
    seed=st.integers(0, 2**16),
    dup=st.integers(1, 9),
)
def test_contract_property(coded, name, t, h, w, budget, with_query, seed, dup):
    feats = coded(t, (h, w), d=5, seed=seed)
    # runs of repeated frames exercise the similarity stages
    keep = torch.arange(t) // dup * dup
    x = feats.features.clone()
    x[:, :, 3:] = x[keep, :, 3:]
    feats = FrameFeatures(x, feats.grid, feats.timestamps_s, feats.frame_indices)
    q = Query(embedding=torch.randn(2, 5, generator=torch.Generator().manual_seed(seed))) if with_query else None
    run_contract(create_compressor(name), feats, budget, q)


def test_temporal_features_may_come_from_another_encoder(coded):
    feats = coded(48, (4, 4), d=6)
    # DINO-like features: frames 0-15 identical, the rest distinct
    dino = torch.randn(48, 10, 7)
    dino[:16] = dino[0]
    comp = create_compressor("longvu_temporal")
    out = comp(feats, budget=768, temporal_features=dino)  # 48 >= 768 // 64: reduction applies
    kept = sorted(set(out.frame_indices.tolist()))
    first_window = [f for f in kept if f < int(feats.frame_indices[16])]
    assert first_window == [int(feats.frame_indices[8])]
    # as FrameFeatures, aligned by frame index even when shuffled
    perm = torch.randperm(48)
    dino_ff = FrameFeatures(dino[perm], (2, 5), feats.timestamps_s[perm], feats.frame_indices[perm])
    out2 = comp(feats, budget=768, temporal_features=dino_ff)
    assert torch.equal(out.frame_indices, out2.frame_indices)
