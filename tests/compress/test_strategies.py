"""Pooling, LLaMA-VID, Video-XL windows, pipelines and the budget planner: known answers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from longvid.compress import (
    RESERVE_TOKENS,
    BudgetPlan,
    Compressor,
    Pipeline,
    Query,
    TokenCount,
    create_compressor,
    plan_budget,
)
from longvid.compress.videoxl import VideoXLConfig, plan_windows
from longvid.errors import BudgetError, CompressorContractError, InvalidFeaturesError
from longvid.types import FrameFeatures


def wrap(x: torch.Tensor, grid) -> FrameFeatures:
    t = x.shape[0]
    return FrameFeatures(x, grid, torch.arange(t, dtype=torch.float64), torch.arange(t))


def test_avg_pool_2x2_is_longva_576_to_144(dtype, device):
    x = torch.randn(3, 576, 4)
    out = create_compressor("avg_pool_2x2")(wrap(x.to(device, dtype), (24, 24)), budget=10_000)
    assert len(out) == 3 * 144
    want = x.reshape(3, 12, 2, 12, 2, 4).mean((2, 4)).reshape(3 * 144, 4)
    torch.testing.assert_close(out.tokens.float().cpu(), want.to(dtype).float(), rtol=2e-2, atol=2e-2)


def test_uniform_keeps_evenly_spread_frames_and_says_so():
    out = create_compressor("uniform")(wrap(torch.randn(10, 4, 2), (2, 2)), budget=12)
    assert sorted(out.tokens_per_frame()) == [1, 5, 8]
    assert "10 -> 3" in out.stats[0].note


def test_llama_vid_context_token_attends_to_the_queried_patch(dtype):
    d = 16
    x = torch.eye(d)[None].repeat(2, 1, 1) * 10  # patch i is the unit vector e_i (x10)
    q = torch.zeros(3, d)
    q[:, 3] = 10.0
    out = create_compressor("llama_vid")(wrap(x.to(dtype), (4, 4)), budget=4, query=Query(embedding=q.to(dtype)))
    assert len(out) == 4 and out.cells.tolist() == [-1, -1, -1, -1]
    ctx = out.tokens[0].float()
    assert int(ctx.argmax()) == 3 and float(ctx[3]) > 9.0
    torch.testing.assert_close(out.tokens[1].float(), x[0].float().mean(0), rtol=2e-2, atol=2e-2)


def test_llama_vid_grid_content():
    comp = create_compressor("llama_vid", content_grid=2)
    assert comp.num_output_tokens(num_frames=5, grid=(4, 4), budget=1000) == 25
    for bad in ("grid:x", "2", 0, -1, True, 2.0):  # checked once, when the compressor is built
        with pytest.raises(InvalidFeaturesError):
            create_compressor("llama_vid", content_grid=bad)
    with pytest.raises(TypeError, match="content"):  # the old string option is gone, not silently ignored
        create_compressor("llama_vid", content="grid:2")


def test_window_plan_matches_videoxl_layout():
    plan = plan_windows(3 * 1440 + 144, VideoXLConfig(ratio=8))
    assert plan.num_windows == 4
    assert plan.num_summaries == 3 * 180 + 18
    raw, slots = plan.interleaved_positions()
    allpos = torch.cat([raw, slots]).sort().values
    assert torch.equal(allpos, torch.arange(plan.num_tokens + plan.num_summaries))
    # a slot follows every 8 raw tokens: raw 0..7, slot, raw 8..15, slot ...
    assert slots[:2].tolist() == [8, 17]
    assert bool((plan.summary_ends - plan.summary_starts <= 8).all())
    with pytest.raises(InvalidFeaturesError):
        VideoXLConfig(ratio=3)
    # summary slots inherit the frame of the last raw token they follow
    raw = create_compressor("uniform")(wrap(torch.randn(20, 144, 4), (12, 12)), budget=20 * 144)
    p2 = plan_windows(len(raw))
    fi, _ = p2.summary_provenance(raw)
    assert fi[:18].tolist() == [0] * 18 and fi[18] == 1 and len(fi) == p2.num_summaries == 2 * 180


def test_videoxl_window_stride_and_query_selection():
    x = torch.randn(10, 144, 8)
    comp = create_compressor("videoxl_window", ratio=16)
    out = comp(wrap(x, (12, 12)), budget=10_000)
    assert len(out) == 90 and out.cells[:3].tolist() == [15, 31, 47]
    # the most relevant tokens of the window win in query mode
    x[4, 100] = 50.0
    q = Query(embedding=torch.ones(1, 8))
    out = create_compressor("videoxl_window", ratio=16, select="query")(wrap(x, (12, 12)), budget=10_000, query=q)
    assert ((out.frame_indices == 4) & (out.cells == 100)).any()
    # budget too small for ratio 8: raised to 16, noted
    out = create_compressor("videoxl_window")(wrap(x, (12, 12)), budget=100)
    assert "ratio raised 8 -> 16" in out.stats[0].note and len(out) == 90


def test_pipeline_chains_and_keeps_provenance(coded):
    feats = coded(30, (8, 8), d=6)
    pipe = Pipeline(["uniform", "avg_pool_2x2", "llama_vid"])
    out = pipe(feats, budget=40)
    assert [s.stage for s in out.stats] == ["uniform", "avg_pool_2x2", "llama_vid"]
    assert len(out) == pipe.num_output_tokens(num_frames=30, grid=(8, 8), budget=40)
    torch.testing.assert_close(out.tokens[:, 0], out.frame_indices.float())
    with pytest.raises(InvalidFeaturesError):
        Pipeline(["llama_vid", "uniform"])
    # intermediate stages shape frames; only the last one fits the budget
    out = Pipeline(["avg_pool_2x2", "llama_vid"])(feats, budget=60)
    assert len(out) == 60 and out.stats[0].frames_out == 30


def test_plan_budget_reports_and_fits():
    plan = plan_budget(8192, 200, 5000, (12, 12), method="llama_vid")
    assert isinstance(plan, BudgetPlan)
    assert plan.budget == 8192 - 200 - 16
    assert [s.name for s in plan.stages] == ["uniform", "llama_vid"]
    assert plan.expected.exact and plan.expected.tokens == 3988 * 2
    feats = FrameFeatures(torch.randn(5000, 4, 2), (2, 2), torch.arange(5000) * 1.0, torch.arange(5000))
    out = plan.build()(feats, budget=plan.budget)
    assert len(out) == plan.expected.tokens
    assert "budget: 8192 context - 200 prompt - 16 reserve = 7976" in str(plan)
    assert "5000 -> 3988" in str(plan)
    assert plan_budget(8192, 200, 3600, (12, 12), method="llama_vid").stages[0].name == "llama_vid"
    lv = plan_budget(8192, 200, 3600, (12, 12))
    assert [s.name for s in lv.stages] == ["longvu"] and not lv.expected.exact


def test_plan_budget_errors_name_the_problem():
    with pytest.raises(BudgetError, match="no room"):
        plan_budget(1000, 990, 10, (12, 12))
    with pytest.raises(BudgetError, match="single frame"):
        plan_budget(500, 0, 10, (24, 24), method="uniform")


def test_bad_inputs_raise_typed_errors():
    comp = create_compressor("longvu")
    feats = wrap(torch.randn(4, 4, 3), (2, 2))
    with pytest.raises(BudgetError):
        comp(feats, budget=0)
    with pytest.raises(InvalidFeaturesError, match="channels"):
        comp(feats, budget=10, query=Query(embedding=torch.randn(2, 5)))
    with pytest.raises(InvalidFeaturesError):
        Query(embedding=torch.randn(5))
    with pytest.raises(InvalidFeaturesError, match="one row per frame"):
        comp(feats, budget=10, temporal_features=torch.randn(3, 8))
    with pytest.raises(InvalidFeaturesError, match="T == 0"):
        comp(wrap(torch.randn(0, 4, 3), (2, 2)), budget=10)
    with pytest.raises(KeyError, match="known"):
        create_compressor("nope")


def test_planner_asks_the_compressor_for_its_capabilities():
    assert all(create_compressor(n).adaptive for n in ("longvu", "longvu_temporal", "longvu_mixed_resolution",
                                                       "longvu_stc"))
    assert not any(create_compressor(n).adaptive for n in ("uniform", "avg_pool_2x2", "llama_vid", "videoxl_window"))
    plan = plan_budget(8192, 200, 3600, (12, 12))
    assert any(line.startswith("temporal reduction: on (3600 frames >= budget // 64 = 124)") for line in plan.report)
    assert plan.reserve == RESERVE_TOKENS == 16
    assert not any("temporal" in line for line in plan_budget(8192, 200, 3600, (12, 12), method="longvu_stc").report)


class Overflowing(Compressor):
    """A third-party strategy that breaks the contract: it ignores the budget."""

    name = "overflowing"

    def compress(self, features, *, budget, query, temporal_features):
        return create_compressor("uniform")(features, budget=1 << 30)

    def _token_count(self, *, num_frames, grid, budget):
        return TokenCount(budget, exact=False)


def test_a_compressor_over_its_budget_raises_a_typed_error():
    feats = wrap(torch.randn(4, 4, 2), (2, 2))
    with pytest.raises(CompressorContractError, match="16 tokens for a budget of 5"):
        Overflowing()(feats, budget=5)
    with pytest.raises(CompressorContractError):
        Pipeline(["uniform", Overflowing()])(feats, budget=5)


def test_the_budget_check_survives_python_dash_O(tmp_path):
    """An ``assert`` would vanish under ``python -O``; the raised error does not."""
    script = tmp_path / "check.py"
    script.write_text(
        "import torch\n"
        "from longvid.compress import Compressor, TokenCount, create_compressor\n"
        "from longvid.errors import CompressorContractError\n"
        "from longvid.types import FrameFeatures\n"
        "class Over(Compressor):\n"
        "    name = 'over'\n"
        "    def compress(self, features, *, budget, query, temporal_features):\n"
        "        return create_compressor('uniform')(features, budget=1 << 30)\n"
        "    def _token_count(self, *, num_frames, grid, budget):\n"
        "        return TokenCount(budget, exact=False)\n"
        "f = FrameFeatures(torch.randn(4, 4, 2), (2, 2), torch.arange(4) * 1.0, torch.arange(4))\n"
        "try:\n"
        "    Over()(f, budget=5)\n"
        "except CompressorContractError:\n"
        "    print('raised')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    res = subprocess.run([sys.executable, "-O", str(script)], capture_output=True, text=True, env=env,
                         timeout=120, check=False)
    assert res.stdout.strip() == "raised", res.stderr
