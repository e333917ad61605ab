"""End to end on tiny random checkpoints saved in the released layouts, loaded by the public loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from longvid.models.generate import GenerationConfig

GREEDY = GenerationConfig(max_new_tokens=6, do_sample=False)


def sampled_times(video, fps):
    from longvid.io.sampling import SamplingConfig, sample_frames

    out = {}
    for b in sample_frames(video, SamplingConfig(fps=fps, size=64, resize="pad")):
        out.update({int(i): float(t) for i, t in zip(b.indices, b.timestamps_s)})
    return out


def check_provenance(vt, times):
    fi, ts = vt.frame_indices.tolist(), vt.timestamps_s.tolist()
    assert set(fi) <= set(times)
    assert all(abs(times[f] - t) < 1e-9 for f, t in zip(fi, ts))
    assert vt.cells.shape == (len(vt),)
    assert fi == sorted(fi)  # frames stay in video order


@pytest.fixture(scope="module")
def longvu_engine(longvu_dir):
    from longvid.models.engine import load_engine

    folder, towers = longvu_dir.folder, longvu_dir.vision_towers
    return load_engine(str(folder), vision_towers=towers, generation=GREEDY)


def test_longvu_end_to_end(longvu_engine, short_video):
    pieces = []
    r = longvu_engine.run(str(short_video), "what color is the square?", on_text=pieces.append)
    cfg = longvu_engine.model.config
    assert r.budget == cfg.context_length - r.text_tokens - cfg.reserve_tokens
    assert 0 < len(r.visual_tokens) <= r.budget
    assert r.new_tokens >= 1 and r.answer.engine == "longvu"
    assert "".join(pieces).strip() == r.answer.text
    check_provenance(r.visual_tokens, sampled_times(short_video, 1.0))
    stages = [s.stage for s in r.visual_tokens.stats]
    assert stages[0] == "temporal" and len(stages) >= 2
    # newline tokens: one per (frame, row) run, equal to the learned image_newline
    nl = longvu_engine.model.connector.image_newline
    is_nl = (r.visual_tokens.tokens == nl).all(dim=1)
    assert int(is_nl.sum()) > 0 and bool((r.visual_tokens.cells[is_nl] == -1).all())
    assert r.answer.evidence and all(0 <= e.moment.start_s <= 12 for e in r.answer.evidence)


def test_longvu_tight_budget_runs_every_stage(longvu_dir, short_video):
    """A small context forces temporal reduction and a budget well below one token per cell."""
    from longvid.models.engine import load_engine

    folder, towers = longvu_dir.folder, longvu_dir.vision_towers
    eng = load_engine(str(folder), vision_towers=towers, generation=GREEDY, context_length=300)
    r = eng.run(str(short_video), "what color is the square?")
    assert r.budget == 300 - r.text_tokens - 16
    assert 0 < len(r.visual_tokens) <= r.budget
    vt = r.visual_tokens
    temporal, mixed, stc = vt.stats  # each of LongVU's three stages ran, in order
    assert temporal.stage == "temporal" and "not applied" not in temporal.note
    assert temporal.frames_in == 12 and temporal.tokens_out == temporal.frames_out * 144
    # stage 2: N > (budget - 1) // 64, so the released layout keeps 12x12 frames with their newlines
    assert mixed.stage == "mixed_resolution" and mixed.frames_in == temporal.frames_out
    # 160x96 frames unpadded as trained: 12 rows of the middle 8 cells, each row ended by a newline
    assert mixed.tokens_out == mixed.frames_in * 12 * (8 + 1) > r.budget
    # stage 3: spatial token compression brings them under the budget
    assert stc.stage == "stc" and stc.tokens_in == mixed.tokens_out and stc.tokens_out < stc.tokens_in
    cells = vt.cells >= 0
    assert len(vt) == stc.tokens_out  # newlines are cells STC compares, as in the released model
    assert {tuple(g) for g in vt.cell_grids[cells].tolist()} == {(12, 12)}
    check_provenance(vt, sampled_times(short_video, 1.0))


def test_longva_end_to_end(longva_dir, short_video):
    from longvid.models.engine import load_engine

    folder, towers = longva_dir.folder, longva_dir.vision_towers
    seen = []
    eng = load_engine(str(folder), vision_towers=towers, generation=GREEDY, fps=None, num_frames=8,
                      progress=lambda stage, done, total: seen.append((stage, done, total)))
    r = eng.run(str(short_video), "what color is the square?")
    assert seen and seen[-1][0] == "visual" and seen[-1][1] == seen[-1][2]
    assert eng.name == "longva" and r.new_tokens >= 1
    assert len(r.visual_tokens) == 8 * 144 <= r.budget  # no compression needed: 144 per frame
    assert set(r.visual_tokens.tokens_per_frame().values()) == {144}


def test_longva_over_budget_and_other_compressors(longva_dir, short_video):
    from longvid.compress import create_compressor
    from longvid.models.engine import load_engine

    folder, towers = longva_dir.folder, longva_dir.vision_towers
    eng = load_engine(str(folder), vision_towers=towers, generation=GREEDY, context_length=700)
    r = eng.run(str(short_video), "what color is the square?")
    assert len(r.visual_tokens) <= r.budget < 12 * 144  # uniform frame subsampling fits it
    check_provenance(r.visual_tokens, sampled_times(short_video, 1.0))
    eng2 = load_engine(str(folder), vision_towers=towers, generation=GREEDY, context_length=700,
                       compressor=create_compressor("longvu"))
    r2 = eng2.run(str(short_video), "what color is the square?")
    assert len(r2.visual_tokens) <= r2.budget
    stages = [s.stage for s in r2.visual_tokens.stats]
    assert stages[0] == "encode" and "uniform" not in stages and len(stages) >= 2
    # LongVU keeps more frames than uniform subsampling under the same budget (low-res frames)
    assert len(r2.visual_tokens.tokens_per_frame()) > len(r.visual_tokens.tokens_per_frame())
    check_provenance(r2.visual_tokens, sampled_times(short_video, 1.0))


def test_longva_unires_image(longva_dir):
    from longvid.models.engine import load_model

    folder, towers = longva_dir.folder, longva_dir.vision_towers
    m = load_model(str(folder), vision_towers=towers)
    vt = m.image_tokens(np.full((300, 620, 3), 90, np.uint8))  # wide: a 1x2 grid of crops
    assert len(vt) == 2 * 144
    assert vt.cell_grids[0].tolist() == [12, 24]
    assert sorted(vt.cells.tolist()) == list(range(288))


def test_loglikelihood_matches_greedy_generation(longva_dir, short_video):
    from longvid.models.engine import load_engine

    folder, towers = longva_dir.folder, longva_dir.vision_towers
    eng = load_engine(str(folder), vision_towers=towers, generation=GREEDY, fps=None, num_frames=4)
    q = "what color is the square?"
    answer = eng.ask(str(short_video), q).text
    # the random model also emits special tokens, which decoding drops: score the first two words,
    # generated before any of them
    prefix = " ".join(answer.split()[:2])
    assert prefix
    logp, greedy = eng.loglikelihood(str(short_video), q, prefix)
    assert greedy and logp < 0, (answer, logp)
    other = "red" if not answer.startswith("red") else "blue"
    logp2, greedy2 = eng.loglikelihood(str(short_video), q, other)
    assert not greedy2 and logp2 < 0


def test_registered_engines(longvu_dir):
    from longvid.engines import create_engine, list_engines

    assert {"longvu", "longva"} <= set(list_engines())
    folder, towers = longvu_dir.folder, longvu_dir.vision_towers
    eng = create_engine("longvu", model=str(folder), vision_towers=towers)
    assert eng.name == "longvu" and hasattr(eng, "ask")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_longvu_on_gpu_bf16(longvu_dir, short_video):
    from longvid.models.engine import load_engine

    folder, towers = longvu_dir.folder, longvu_dir.vision_towers
    eng = load_engine(str(folder), vision_towers=towers, generation=GREEDY, device="cuda", dtype=torch.bfloat16)
    r = eng.run(str(short_video), "what color is the square?")
    assert r.visual_tokens.tokens.dtype == torch.bfloat16 and r.visual_tokens.tokens.is_cuda
    assert len(r.visual_tokens) <= r.budget


def test_longvu_low_resolution_tokens_are_the_released_values(longvu_engine, short_video):
    """Low-res tokens are projector(bilinear 8x8 of the aggregated queries), cell by cell."""
    from longvid.io.probe import probe
    from longvid.io.sampling import SamplingConfig, sample_frames

    m = longvu_engine.model
    r = longvu_engine.run(str(short_video), "what color is the square?")
    vt = r.visual_tokens
    low = (vt.cell_grids[:, 0] == 8) & (vt.cells >= 0)
    assert int(low.sum()) > 0
    info = probe(str(short_video))
    scfg = SamplingConfig(fps=1.0, size=m.sampling_side(info.display_size), resize="pad", pad_rgb=(127, 127, 127))
    frames = m.frame_tokens(sample_frames(str(short_video), scfg, info=info), num_frames=12, budget=r.budget,
                            content_wh=info.display_size)
    with torch.no_grad():
        ref = m.connector.project(m.connector.low_resolution(frames.aggregated, (8, 8)))
    rows = {int(f): i for i, f in enumerate(frames.features.frame_indices.tolist())}
    for i in torch.nonzero(low).flatten()[:50].tolist():
        f, c = int(vt.frame_indices[i]), int(vt.cells[i])
        torch.testing.assert_close(vt.tokens[i], ref[rows[f], c])


def test_streamed_temporal_reduction_equals_whole_video(longvu_engine):
    """Batches of 5 against windows of 16: the kept frames equal temporal_reduce on all frames."""
    from longvid.compress.temporal import TemporalConfig, temporal_reduce
    from longvid.encoders import frames_batch
    from longvid.types import FrameBatch

    m = longvu_engine.model
    rng = np.random.default_rng(0)
    still = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    # a still shot (near-duplicates, dropped) with a distinct frame every 9 (kept)
    frames = np.stack([rng.integers(0, 255, (48, 48, 3), dtype=np.uint8) if i % 9 == 4 else still
                       for i in range(40)])
    ts = np.arange(40, dtype=np.float64)
    batches = [FrameBatch(frames[i:i + 5], ts[i:i + 5], ts[i:i + 5], np.arange(i, min(i + 5, 40)))
               for i in range(0, 40, 5)]
    budget = 40 * 64  # T >= budget // 64: reduction applies
    out = m.frame_tokens(batches, num_frames=40, budget=budget, content_wh=(48, 48))
    dino = m.encoders[-1].encode(frames_batch(frames), content_wh=(48, 48)).features
    ref = temporal_reduce(dino, budget=budget, config=TemporalConfig(threshold=m.config.dino_threshold))
    assert out.features.frame_indices.tolist() == ref.kept.tolist()
    assert 0 < len(ref.kept) < 40
    assert out.aggregated.shape == (len(ref.kept), 144, 32)
