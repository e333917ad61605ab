"""Each default in one place, and contradictory options as clear errors: LongVU's low-resolution
grid from its config, the reserve, the sampling rate, fps with num_frames, the budget guarantee."""

from __future__ import annotations

import json

import pytest
import torch

from longvid.errors import BudgetError, InvalidSamplingError


@pytest.fixture(scope="module")
def longvu_low6(tmp_path_factory):
    from longvid.models.testing import make_longvu

    return make_longvu(tmp_path_factory.mktemp("longvu_low6"), lowres_token=6)


def test_lowres_token_of_the_config_reaches_the_compressor(longvu_low6, short_video):
    """A checkpoint with "lowres_token": 6 gets 6x6 low-resolution frames (+ a newline per row)."""
    from longvid.models.engine import load_engine
    from longvid.models.generate import GenerationConfig

    assert json.loads((longvu_low6.folder / "config.json").read_text())["lowres_token"] == 6
    eng = load_engine(str(longvu_low6.folder), vision_towers=longvu_low6.vision_towers,
                      generation=GenerationConfig(max_new_tokens=1, do_sample=False))
    m = eng.model
    assert m.config.lowres_token == 6 and m.default_compressor().mixed_resolution.low_grid == (6, 6)
    assert m.temporal_config().budget_divisor == 36  # T >= budget // (tokens of a low frame)
    r = eng.run(str(short_video), "what color is the square?")
    vt = r.visual_tokens
    assert len(vt) <= r.budget
    grids = {tuple(g) for g in vt.cell_grids.tolist()}
    assert grids == {(12, 12), (6, 6)}, grids  # mixed resolution ran, and no 8x8 frame anywhere
    low_frames = sorted({int(f) for f, g in zip(vt.frame_indices.tolist(), vt.cell_grids.tolist()) if g == [6, 6]})
    assert low_frames
    newline = m.connector.image_newline
    for f in low_frames:
        rows = vt.frame_indices == f
        cells = vt.cells[rows].tolist()
        # 160x96 unpadded as trained: 6 rows of the middle 4 cells, each ended by the newline (cell -1)
        assert cells == [c for row in range(6) for c in [*range(row * 6 + 1, row * 6 + 5), -1]], (f, cells)
        assert bool((vt.tokens[rows][vt.cells[rows] == -1] == newline).all())
    # their values are the released model's: the aggregated queries resized to 6x6, then projected
    from longvid.io.probe import probe
    from longvid.io.sampling import SamplingConfig, sample_frames

    info = probe(str(short_video))
    scfg = SamplingConfig(fps=1.0, size=m.sampling_side(info.display_size), resize="pad",
                          pad_rgb=m.encoders[0].spec.pad_rgb)
    frames = m.frame_tokens(sample_frames(str(short_video), scfg, info=info), num_frames=12, budget=r.budget,
                            content_wh=info.display_size)
    with torch.no_grad():
        ref = m.connector.project(m.connector.low_resolution(frames.aggregated, (6, 6)))
    row_of = {int(f): i for i, f in enumerate(frames.features.frame_indices.tolist())}
    f = low_frames[0]
    kept = (vt.frame_indices == f) & (vt.cells >= 0)
    torch.testing.assert_close(vt.tokens[kept], ref[row_of[f]][vt.cells[kept]])


def test_longvu_defaults_are_the_compressors():
    from longvid.compress.budget import DEFAULTS
    from longvid.compress.mixed_resolution import MixedResolutionConfig
    from longvid.compress.stc import STCConfig
    from longvid.compress.temporal import TemporalConfig
    from longvid.models.longva.config import LongVAConfig
    from longvid.models.longvu.config import LongVUConfig
    from longvid.models.testing import longva_config, longvu_config

    raw = longvu_config(100, context=8192)
    for key in ("lowres_token", "dino_threshold", "drop_threshold"):
        del raw[key]
    cfg = LongVUConfig.from_dict(raw)
    assert cfg.low_grid == MixedResolutionConfig().low_grid
    assert cfg.dino_threshold == TemporalConfig().threshold and cfg.drop_threshold == STCConfig().threshold
    assert cfg.reserve_tokens == DEFAULTS.reserve
    assert LongVAConfig.from_dict(longva_config(100, context=4096)).reserve_tokens == DEFAULTS.reserve
    from longvid.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="lowres_token 13 must be between 1 and the query side 12"):
        LongVUConfig.from_dict({**raw, "lowres_token": 13})


def test_fps_and_num_frames_together_are_an_error():
    from longvid.io.sampling import SamplingConfig
    from longvid.models.engine import EngineConfig

    with pytest.raises(InvalidSamplingError, match="fps=2.0 and num_frames=8 both given"):
        EngineConfig(fps=2.0, num_frames=8)
    with pytest.raises(InvalidSamplingError, match="not both"):
        EngineConfig(fps=1.0, num_frames=8)  # also when the fps equals the default
    assert EngineConfig(num_frames=8).fps is None
    assert EngineConfig(fps=None, num_frames=8).num_frames == 8
    assert EngineConfig().fps == SamplingConfig().fps  # the io sampler's default rate
    assert EngineConfig(fps=2.0).fps == 2.0


class _OverBudget:
    """A third-party compressor that breaks the budget guarantee."""

    def __call__(self, features, *, budget, query=None):
        from longvid.types import VisualTokens

        n = budget + 5
        return VisualTokens(torch.zeros(n, features.features.shape[-1]), torch.zeros(n, dtype=torch.long),
                            torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.long))

    def token_count(self, *, num_frames, grid, budget):
        from longvid.compress.base import TokenCount

        return TokenCount(budget, exact=False)


def test_a_compressor_over_budget_is_an_error_not_an_assert(longva_dir, short_video):
    from longvid.models.engine import load_engine

    eng = load_engine(str(longva_dir.folder), vision_towers=longva_dir.vision_towers, compressor=_OverBudget(),
                      num_frames=4)
    with pytest.raises(BudgetError, match=r"returned \d+ visual tokens for a budget of \d+"):
        eng.run(str(short_video), "what color is the square?")


def test_tokens_reaching_the_llm_are_the_compressors_count(longva_dir):
    from longvid.compress import create_compressor
    from longvid.models.engine import load_model

    m = load_model(str(longva_dir.folder), vision_towers=longva_dir.vision_towers)
    assert m.token_grid == (12, 12)
    assert m.llm_token_count(12, 700).tokens == create_compressor("uniform").num_output_tokens(
        num_frames=12, grid=(12, 12), budget=700) == 4 * 144
    assert m.memory_frames(12, 700) == 4 and m.memory_frames(3, 700) == 3  # only what reaches the LLM
    avg = create_compressor("avg_pool_2x2")
    assert m.llm_token_count(12, 700, avg).tokens == avg.num_output_tokens(num_frames=12, grid=(12, 12), budget=700)
