"""LLaVA-OneVision through transformers: a tiny random checkpoint built here, its video layout
(pooling, the one newline) against a step-by-step reference, longvid's path against transformers'
own generate, and compressors that keep the layout, their token counts, provenance and positions."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from longvid.errors import InvalidFeaturesError, ModelLoadError
from longvid.models.generate import GenerationConfig

QUESTION = "what is red in this video ?"


@pytest.fixture(scope="module")
def ov_dir(tmp_path_factory):
    from longvid.models.llava_onevision.testing import make_llava_onevision

    return make_llava_onevision(tmp_path_factory.mktemp("llava_onevision"))


@pytest.fixture(scope="module")
def ov(ov_dir):
    from longvid.models.llava_onevision.model import OnevisionModel

    return OnevisionModel.from_pretrained(ov_dir)


@pytest.fixture(scope="module")
def frames(ov, video):
    return ov.sample(video, num_frames=6)


def test_registered_and_config_claimed(ov_dir):
    from longvid.engines import list_engines
    from longvid.models import list_families
    from longvid.models.registry import family_for_config

    assert {"llava_onevision", "qwen3_vl"} <= set(list_families()) and "llava_onevision" in list_engines()
    raw = json.loads((ov_dir / "config.json").read_text())
    fam = family_for_config(raw)
    assert fam.name == "llava_onevision"
    cfg = fam.parse_config(raw)
    assert (cfg.tower_grid, cfg.pooled_side, cfg.hidden_size) == (7, 4, 32)
    prof = fam.memory_profile(cfg)
    assert (prof.held_tokens_per_frame, prof.held_width, prof.encoder_tokens, prof.sequence_grows) == (16, 32, 49, True)
    # the released size: 384 px / patch 14 -> 27x27 -> 14x14 = 196 tokens a frame
    big = fam.parse_config({**raw, "vision_config": {"image_size": 384, "patch_size": 14}})
    assert fam.memory_profile(big).held_tokens_per_frame == 196
    with pytest.raises(ModelLoadError, match="LlavaOnevisionForConditionalGeneration"):
        fam.checkpoint(cfg)
    with pytest.raises(ModelLoadError, match="not a LLaVA-OneVision"):
        fam.parse_config({**raw, "model_type": "llava"})


def test_saved_and_loaded_with_its_class(ov_dir, ov, frames):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json",
                 "video_preprocessor_config.json", "chat_template.json"):
        assert (ov_dir / name).is_file(), name
    assert type(ov.model).__name__ == "LlavaOnevisionForConditionalGeneration"
    assert ov.pooled_grid == (4, 4) and (ov.pre.height, ov.pre.mean) == (98, (0.5, 0.5, 0.5))
    assert frames.frames.shape == (6, 98, 98, 3)
    assert frames.timestamps_s[0] == 0.0 and all(b > a for a, b in zip(frames.timestamps_s, frames.timestamps_s[1:]))


def test_prompt_is_the_processors_expansion(ov):
    """The one <video> becomes frames x ceil(side/2)^2 + 1 (the newline), as the processor counts."""
    from transformers.models.llava_onevision.processing_llava_onevision import LlavaOnevisionProcessor

    fake = SimpleNamespace(video_token="<video>", num_image_tokens=7 * 7)  # the tower's grid
    ref = LlavaOnevisionProcessor.replace_video_token(fake, {"pixel_values_videos": torch.zeros(1, 6, 3, 98, 98)}, 0)
    assert ref == "<video>" * 97
    ids = ov.prompt_ids(QUESTION, 6 * 16 + 1)
    assert int((ids == ov.video_token_id).sum()) == 97
    text = ov.prompt_text(QUESTION)
    assert text.startswith("<|im_start|>user <video>\n" + QUESTION) and text.endswith("<|im_start|>assistant\n")


def test_video_layout_step_by_step(ov, frames):
    """Reference: tower's last layer, projector, each frame's 7x7 grid bilinearly resized to
    4x4, frames one after another, then exactly one image_newline at the very end."""
    pv = ov.pixels(frames.frames)
    feats, newline = ov.video_features(pv)
    m = ov.model.model
    with torch.inference_mode():
        hs = m.vision_tower(pv[0], output_hidden_states=True).hidden_states[-1]  # (T, 49, C): strategy "full"
        proj = m.multi_modal_projector(hs)
        grid = proj.view(6, 7, 7, -1).permute(0, 3, 1, 2)
        pooled = torch.nn.functional.interpolate(grid, size=(4, 4), mode="bilinear").permute(0, 2, 3, 1)
    assert torch.allclose(feats, pooled.reshape(6, 16, -1), atol=1e-5)
    assert torch.equal(newline, m.image_newline)


def test_none_matches_transformers_generate(ov, frames):
    prep = ov.prepare(frames, QUESTION)
    mine = ov.generate(prep, max_new_tokens=12)
    pv = ov.pixels(frames.frames)
    ids = ov.prompt_ids(QUESTION, 6 * 16 + 1)
    assert torch.equal(ids, prep.input_ids)
    ref = ov.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values_videos=pv,
                            do_sample=False, max_new_tokens=12)
    assert len(mine) == 12 and mine == ref[0, ids.shape[1]:].tolist()
    assert len(set(mine)) > 1


@pytest.mark.parametrize("name,budget,kept_frames", [("uniform", 48, [1, 3, 5]), ("longvu_temporal", 1000, None)])
def test_compressor_tokens_provenance_newline_positions(ov, frames, name, budget, kept_frames):
    """The LLM sees the promised video tokens plus the one newline; each token is traceable to its
    frame, time and pooled cell; every kept token keeps its uncompressed position."""
    prep = ov.prepare(frames, QUESTION, compressor=name, budget=budget)
    vt = prep.visual
    per = vt.tokens_per_frame()
    if kept_frames is not None:
        assert sorted(per) == kept_frames and len(vt) == budget
    assert len(vt) <= budget and all(n == 16 for n in per.values())
    video = (prep.input_ids[0] == ov.video_token_id).nonzero()[:, 0]
    assert len(video) == len(vt) + 1 and prep.newline_slot == int(video[-1])
    assert torch.equal(prep.inputs_embeds[0, prep.newline_slot], ov.model.model.image_newline)
    ts = torch.as_tensor(frames.timestamps_s, dtype=torch.float64)
    assert torch.equal(vt.timestamps_s, ts[vt.frame_indices])
    assert bool(((vt.cells >= 0) & (vt.cells < 16)).all()) and bool((vt.cell_grids == torch.tensor([4, 4])).all())
    feats, _ = ov.video_features(ov.pixels(frames.frames))
    assert torch.equal(vt.tokens, feats[vt.frame_indices, vt.cells])  # the token is its frame's cell
    assert torch.equal(prep.inputs_embeds[0, video[:-1]], vt.tokens)
    full_ids = ov.prompt_ids(QUESTION, 6 * 16 + 1)
    start = int((full_ids[0] == ov.video_token_id).nonzero()[0, 0])
    for slot, f, c in zip(video[:-1].tolist(), vt.frame_indices.tolist(), vt.cells.tolist()):
        assert int(prep.position_ids[0, slot]) == start + f * 16 + c
    assert int(prep.position_ids[0, prep.newline_slot]) == start + 6 * 16  # the newline's own place
    assert torch.equal(prep.position_ids[0], prep.kept) and torch.equal(prep.input_ids[0], full_ids[0, prep.kept])


def test_compressed_equals_full_sequence_with_dropped_tokens_masked(ov, frames):
    """Reference: transformers' forward on the uncompressed prompt (its own video features) with
    the dropped video tokens masked as keys gives longvid's compressed logits."""
    prep = ov.prepare(frames, QUESTION, compressor="uniform", budget=48)
    pv = ov.pixels(frames.frames)
    full_ids = ov.prompt_ids(QUESTION, 6 * 16 + 1)
    mask = torch.zeros_like(full_ids)
    mask[0, prep.kept] = 1
    pos = torch.arange(full_ids.shape[1])[None]
    with torch.inference_mode():
        ref = ov.model(input_ids=full_ids, attention_mask=mask, position_ids=pos, pixel_values_videos=pv).logits[0, -1]
        mine = ov.model(inputs_embeds=prep.inputs_embeds, position_ids=prep.position_ids).logits[0, -1]
    assert torch.allclose(mine, ref, atol=1e-4), float((mine - ref).abs().max())


def test_contiguous_positions(ov, frames):
    prep = ov.prepare(frames, QUESTION, compressor="uniform", budget=48, positions="contiguous")
    assert torch.equal(prep.position_ids[0], torch.arange(prep.input_ids.shape[1]))
    assert len(prep.visual) == 48


def test_merged_tokens_take_their_windows_first_place(ov, frames):
    """avg_pool_2x2 on the 4x4 pooled grid: 2x2 tokens a frame, each at the place (and position)
    of its window's first cell (2r, 2c); the newline still closes the video."""
    prep = ov.prepare(frames, QUESTION, compressor="avg_pool_2x2", budget=1000)
    vt = prep.visual
    assert len(vt) == 6 * 4 and bool((vt.cell_grids == torch.tensor([2, 2])).all())
    full_ids = ov.prompt_ids(QUESTION, 6 * 16 + 1)
    start = int((full_ids[0] == ov.video_token_id).nonzero()[0, 0])
    video = (prep.input_ids[0] == ov.video_token_id).nonzero()[:, 0]
    for slot, f, cell in zip(video[:-1].tolist(), vt.frame_indices.tolist(), vt.cells.tolist()):
        r, c = divmod(cell, 2)
        assert int(prep.position_ids[0, slot]) == start + f * 16 + (2 * r) * 4 + 2 * c
    assert torch.equal(prep.inputs_embeds[0, video[-1]], ov.model.model.image_newline)
    with pytest.raises(InvalidFeaturesError, match="cell -1"):
        ov.prepare(frames, QUESTION, budget=1000, compressor=lambda ff, *, budget, query: type(prep.visual)(
            ff.features.mean(1), ff.frame_indices, ff.timestamps_s, torch.full((len(ff),), -1)))


def test_engine_by_family_name(ov_dir, video):
    from longvid.engines import create_engine

    eng = create_engine("llava_onevision", model=str(ov_dir), num_frames=4,
                        generation=GenerationConfig(max_new_tokens=4, do_sample=False))
    res = eng.run(video, QUESTION)
    assert res.answer.engine == "llava_onevision" and res.new_tokens >= 1
    assert len(res.visual_tokens) == 4 * 16 and math.isclose(res.answer.evidence[0].moment.start_s, 0.0)


@pytest.mark.parametrize("name", ["uniform", "longvu_temporal", "longvu_mixed_resolution", "longvu"])
def test_the_llm_sees_the_promised_tokens(ov, frames, name):
    """For each compressor (longvu_mixed_resolution: query-guided frame selection), the LLM sees
    the compressor's promised count (exact, or an upper bound) plus the one newline, and every
    token names a kept frame's time and a cell of its grid."""
    from longvid.compress import create_compressor

    comp = create_compressor(name)
    promised = comp.token_count(num_frames=6, grid=(4, 4), budget=40)
    prep = ov.prepare(frames, QUESTION, compressor=comp, budget=40)
    vt = prep.visual
    assert (len(vt) == promised.tokens) if promised.exact else (0 < len(vt) <= promised.tokens)
    assert int((prep.input_ids[0] == ov.video_token_id).sum()) == len(vt) + 1
    ts = torch.as_tensor(frames.timestamps_s, dtype=torch.float64)
    assert torch.equal(vt.timestamps_s, ts[vt.frame_indices])
    area = vt.cell_grids[:, 0] * vt.cell_grids[:, 1]
    assert bool(((vt.cells >= 0) & (vt.cells < area)).all())
