"""Qwen2-VL through the shared Qwen-VL path: a tiny random checkpoint built here, longvid's path
against transformers' own generate, and compression with the survivors' positions kept.

Qwen2-VL differs from Qwen2.5-VL in its tower (full attention in every block) and in its temporal
rotary positions (the group index, no timing): the positions checks below use its own rule."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from longvid.errors import ModelLoadError
from longvid.models.generate import GenerationConfig

QUESTION = "what is red in this video ?"


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    from longvid.models.qwen_vl.testing import make_qwen2_vl

    return make_qwen2_vl(tmp_path_factory.mktemp("qwen2_vl"))


@pytest.fixture(scope="module")
def qwen(qwen_dir):
    from longvid.models.qwen_vl.model import QwenVLModel

    return QwenVLModel.from_pretrained(qwen_dir)






def test_registered_and_config_claimed(qwen_dir):
    from longvid.engines import list_engines
    from longvid.models.registry import family_for_config, list_families

    assert {"qwen2_vl", "qwen2_5_vl"} <= set(list_families()) and "qwen2_vl" in list_engines()
    raw = json.loads((qwen_dir / "config.json").read_text())
    fam = family_for_config(raw)
    assert fam.name == "qwen2_vl"
    cfg = fam.parse_config(raw)
    assert (cfg.temporal_patch_size, cfg.spatial_merge_size, cfg.tokens_per_second) == (2, 2, None)
    with pytest.raises(ModelLoadError, match="Qwen2VLForConditionalGeneration"):
        fam.checkpoint(cfg)
    with pytest.raises(ModelLoadError, match="not a Qwen2-VL"):
        fam.parse_config({**raw, "model_type": "qwen2_5_vl"})  # each family claims its own generation only


def test_saved_and_loaded_with_qwen2_vl_class(qwen_dir, qwen):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json",
                 "video_preprocessor_config.json", "chat_template.json"):
        assert (qwen_dir / name).is_file(), name
    assert type(qwen.model).__name__ == "Qwen2VLForConditionalGeneration" and qwen.family == "qwen2_vl"
    assert not hasattr(qwen.model.config.vision_config, "fullatt_block_indexes")  # no window attention
    assert qwen.pre.merged_grid(84, 112) == (3, 4)


def test_none_matches_transformers_generate(qwen, video):
    """Compression 'none': longvid's path gives exactly transformers' own generate tokens (greedy)."""
    s = qwen.sample(video, fps=2.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION)
    mine = qwen.generate(prep, max_new_tokens=12)
    pv, thw = qwen.pixels(s.frames)
    ids = qwen.prompt_ids(QUESTION, int(thw.prod()) // 4)
    assert torch.equal(ids, prep.input_ids)
    ref = qwen.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values_videos=pv,
                              video_grid_thw=thw, mm_token_type_ids=(ids == qwen.video_token_id).long() * 2,
                              do_sample=False, max_new_tokens=12)
    assert len(mine) == 12 and mine == ref[0, ids.shape[1]:].tolist()
    assert len(set(mine)) > 1


def check_survivors(qwen, prep, sampled):
    """Every survivor's (t, h, w) is its position in the uncompressed sequence, both from
    transformers' get_rope_index and from Qwen2-VL's rule: t = start + group, whatever the rate."""
    grid = qwen.pre.merged_grid(84, 112)
    n_cell = grid[0] * grid[1]
    groups = (len(sampled.frames) + 1) // 2
    full_ids = qwen.prompt_ids(QUESTION, groups * n_cell)
    is_video = full_ids[0] == qwen.video_token_id
    start = int(is_video.nonzero()[0, 0])
    full_pos, _ = qwen.model.model.get_rope_index(full_ids, mm_token_type_ids=is_video.long()[None] * 2,
                                                  video_grid_thw=torch.tensor([[groups, grid[0] * 2, grid[1] * 2]]))
    vt = prep.visual
    slots = (prep.input_ids[0] == qwen.video_token_id).nonzero()[:, 0]
    assert len(slots) == len(vt) > 0
    for slot, f, cell in zip(slots.tolist(), vt.frame_indices.tolist(), vt.cells.tolist()):
        g, (r, c) = f // 2, divmod(cell, grid[1])
        got = tuple(prep.position_ids[:, 0, slot].tolist())
        assert got == tuple(full_pos[:, 0, start + g * n_cell + cell].tolist()) == (start + g, start + r, start + c)
    n_after = int((~is_video[start:]).sum())
    assert torch.equal(prep.position_ids[:, 0, :start], full_pos[:, 0, :start])
    assert torch.equal(prep.position_ids[:, 0, -n_after:], full_pos[:, 0, -n_after:])
    for f, n in vt.tokens_per_frame().items():
        assert f % 2 == 0 and n == n_cell


@pytest.mark.parametrize("fps", [2.0, 8.0])
def test_longvu_temporal_keeps_positions(qwen, fps, static_video):
    """A static video: LongVU's temporal reduction keeps each 16-group window's middle group
    (groups 8 and 24 of 32); survivors keep their uncompressed positions. Qwen2-VL's temporal
    position does not depend on the rate, so both rates give the same positions."""
    from longvid.compress import create_compressor

    s = static_video(64, fps=fps)
    prep = qwen.prepare(s, QUESTION, compressor=create_compressor("longvu_temporal"), budget=1000)
    assert sorted(prep.visual.tokens_per_frame()) == [16, 48] and len(prep.visual) == 24
    check_survivors(qwen, prep, s)
    assert len(qwen.generate(prep, max_new_tokens=4)) >= 1


def test_compressed_equals_full_sequence_with_dropped_tokens_masked(qwen, video):
    """Reference: transformers' forward on the uncompressed prompt (its own video embedding and
    3D positions) with the dropped video tokens masked as keys gives longvid's compressed logits."""
    s = qwen.sample(video, fps=4.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION, compressor="longvu_temporal", budget=48)
    pv, thw = qwen.pixels(s.frames)
    full_ids = qwen.prompt_ids(QUESTION, int(thw.prod()) // 4)
    mm = (full_ids == qwen.video_token_id).long() * 2
    pos, _ = qwen.model.model.get_rope_index(full_ids, mm_token_type_ids=mm, video_grid_thw=thw)
    mask = torch.zeros_like(full_ids)
    mask[0, prep.kept] = 1
    assert int(mask.sum()) < full_ids.shape[1]
    with torch.inference_mode():
        ref = qwen.model(input_ids=full_ids, attention_mask=mask, position_ids=pos, pixel_values_videos=pv,
                         video_grid_thw=thw, mm_token_type_ids=mm).logits[0, -1]
        mine = qwen.model(inputs_embeds=prep.inputs_embeds, position_ids=prep.position_ids).logits[0, -1]
    assert torch.allclose(mine, ref, atol=1e-4), float((mine - ref).abs().max())


def test_engine_by_family_name(qwen_dir, video):
    from longvid.engines import create_engine

    eng = create_engine("qwen2_vl", model=str(qwen_dir), generation=GenerationConfig(max_new_tokens=4, do_sample=False))
    res = eng.run(video, QUESTION)
    assert res.answer.engine == "qwen2_vl" and res.new_tokens >= 1
    assert len(res.visual_tokens) == 4 * 12  # 8 frames at 2 fps -> 4 groups of 4x3
