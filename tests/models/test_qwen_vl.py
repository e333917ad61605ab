"""Qwen2.5-VL through transformers: a tiny random checkpoint built here, longvid's path against
transformers' own generate, and compression between merger and LLM with positions kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from longvid.errors import BudgetError, ModelLoadError
from longvid.models.generate import GenerationConfig

QUESTION = "what is red in this video ?"


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    from longvid.models.qwen_vl.testing import make_qwen2_5_vl

    return make_qwen2_5_vl(tmp_path_factory.mktemp("qwen2_5_vl"))


@pytest.fixture(scope="module")
def qwen(qwen_dir):
    from longvid.models.qwen_vl.model import QwenVLModel

    return QwenVLModel.from_pretrained(qwen_dir)






def test_registered_and_config_claimed(qwen_dir):
    from longvid.models.registry import family_for_config, list_families

    assert "qwen2_5_vl" in list_families()
    raw = json.loads((qwen_dir / "config.json").read_text())
    fam = family_for_config(raw)
    assert fam.name == "qwen2_5_vl"
    cfg = fam.parse_config(raw)
    assert (cfg.temporal_patch_size, cfg.spatial_merge_size, cfg.tokens_per_second) == (2, 2, 4)
    with pytest.raises(ModelLoadError, match="load_qwen_vl_engine"):
        fam.checkpoint(cfg)  # the shared loader's protocol is not this family's path
    with pytest.raises(ModelLoadError, match="not a Qwen2.5-VL"):
        fam.parse_config({**raw, "model_type": "llava_qwen"})


def test_saved_in_released_layout_and_loaded(qwen_dir, qwen):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json",
                 "video_preprocessor_config.json", "chat_template.json"):
        assert (qwen_dir / name).is_file(), name
    assert type(qwen.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert qwen.pre.merged_grid(84, 112) == (3, 4)  # 112x84 -> 8x6 patches -> 4x3 merged
    text = qwen.prompt_text(QUESTION)
    assert text.count("<|video_pad|>") == 1 and text.endswith("<|im_start|>assistant\n")


def test_pixel_layout_is_the_processors(qwen):
    """Patch order (group, merged row, merged col, 2x2) and channel layout (C, t, p, p), checked
    on frames whose pixels encode their own row, column and frame."""
    pre = qwen.pre
    t, h, w = 4, 84, 112  # already the target size: no resize
    assert pre.target_hw(h, w) == (h, w)
    f = np.zeros((t, h, w, 3), np.uint8)
    f[..., 0] = np.arange(h)[None, :, None]
    f[..., 1] = np.arange(w)[None, None, :]
    f[..., 2] = (np.arange(t) * 50)[:, None, None]
    pv, thw = pre(f)
    assert thw.tolist() == [[2, 6, 8]] and pv.shape == (2 * 6 * 8, 3 * 2 * 14 * 14)
    mean, std = np.array(pre.mean), np.array(pre.std)
    raw = pv.numpy().reshape(-1, 3, 2, 14, 14) * std[None, :, None, None, None] + mean[None, :, None, None, None]
    raw = np.rint(raw * 255)
    # patch 5 = group 0, merged cell (0, 1), inside the window (0, 1): patch row 0, patch col 3
    p = raw[5]
    assert p[0, 1, 0, 0] == 0 and p[1, 1, 0, 0] == 3 * 14 and p[2, 1, 0, 0] == 50
    # patch 48 + 4*4 + 2 = group 1, merged cell (1, 0) (4 patches per cell), inside (1, 0): row 3, col 0
    p = raw[48 + 16 + 2]
    assert p[0, 0, 0, 0] == 3 * 14 and p[1, 0, 0, 0] == 0 and p[2, 0, 0, 0] == 100


def test_pixels_match_transformers_processor(qwen, qwen_dir):
    pytest.importorskip("torchvision")
    from transformers import AutoVideoProcessor

    proc = AutoVideoProcessor.from_pretrained(str(qwen_dir))
    frames = np.random.default_rng(0).integers(0, 255, (4, 84, 112, 3), dtype=np.uint8)
    ref = proc(videos=[list(frames)], do_sample_frames=False, return_tensors="pt")
    pv, thw = qwen.pre(frames)
    assert thw.tolist() == ref["video_grid_thw"].tolist()
    assert torch.allclose(pv, ref["pixel_values_videos"], atol=1e-5)


def test_none_matches_transformers_generate(qwen, video):
    """Compression 'none': longvid's sampling, prompt and decoding loop give exactly the tokens of
    transformers' own generate on the same frames (greedy)."""
    s = qwen.sample(video, fps=2.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION)
    mine = qwen.generate(prep, max_new_tokens=12)
    pv, thw = qwen.pixels(s.frames)
    ids = qwen.prompt_ids(QUESTION, int(thw.prod()) // 4)
    assert torch.equal(ids, prep.input_ids)
    ref = qwen.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values_videos=pv,
                              video_grid_thw=thw, second_per_grid_ts=torch.tensor([qwen.second_per_grid(s.fps)]),
                              mm_token_type_ids=(ids == qwen.video_token_id).long() * 2, do_sample=False,
                              max_new_tokens=12)
    ref_new = ref[0, ids.shape[1]:].tolist()
    assert len(mine) == 12 and mine == ref_new
    assert len(set(mine)) > 1  # a random model that repeats one token would hide position bugs less well


def test_engine_answer_provenance_and_streaming(qwen_dir, video):
    from longvid.io.sampling import SamplingConfig, sample_frames
    from longvid.models.qwen_vl.family import QwenVLFamily

    eng = QwenVLFamily.create_engine(str(qwen_dir), generation=GenerationConfig(max_new_tokens=6, do_sample=False))
    pieces = []
    res = eng.run(video, QUESTION, on_text=pieces.append)
    assert res.answer.engine == "qwen2_5_vl" and "".join(pieces) == res.answer.text
    times = {}
    for b in sample_frames(video, SamplingConfig(fps=2.0, resize="none")):
        times.update({int(i): float(t) for i, t in zip(b.indices, b.timestamps_s)})
    vt = res.visual_tokens
    assert len(vt) == (len(times) // 2) * 12  # 8 frames -> 4 groups of 4x3 merged tokens
    assert set(vt.frame_indices.tolist()) == set(range(0, len(times), 2))  # each group's first frame
    assert all(abs(times[int(f)] - float(t)) < 1e-9 for f, t in zip(vt.frame_indices, vt.timestamps_s))
    assert vt.cells.tolist() == list(range(12)) * 4 and vt.cell_grids.tolist() == [[3, 4]] * len(vt)
    assert [e.extra["frame_indices"] for e in res.answer.evidence] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    with pytest.raises(BudgetError, match="compressor"):
        QwenVLFamily.create_engine(str(qwen_dir), max_video_tokens=20).run(video, QUESTION)


def expected_position(g: int, cell: int, start: int, grid, t_step: float):
    """Qwen2.5-VL's (t, h, w) rotary position of merged token ``cell`` of group ``g``."""
    r, c = divmod(cell, grid[1])
    return (start + int(g * t_step), start + r, start + c)


def check_survivors(qwen, prep, sampled):
    """Every survivor's (t, h, w) equals its position in the uncompressed sequence, both as
    transformers' get_rope_index computes it and from Qwen2.5-VL's formula."""
    grid = qwen.pre.merged_grid(*sampled.frames.shape[1:3])
    n_cell = grid[0] * grid[1]
    groups = len(sampled.frames) // 2
    full_ids = qwen.prompt_ids(QUESTION, groups * n_cell)
    is_video = full_ids[0] == qwen.video_token_id
    start = int(is_video.nonzero()[0, 0])
    full_pos, _ = qwen.model.model.get_rope_index(
        full_ids, mm_token_type_ids=is_video.long()[None] * 2,
        video_grid_thw=torch.tensor([[groups, grid[0] * 2, grid[1] * 2]]),
        second_per_grid_ts=torch.tensor([2 / sampled.fps]))
    t_step = qwen.model.config.vision_config.tokens_per_second * 2 / sampled.fps
    vt = prep.visual
    slots = (prep.input_ids[0] == qwen.video_token_id).nonzero()[:, 0]
    assert len(slots) == len(vt)
    for slot, f, cell in zip(slots.tolist(), vt.frame_indices.tolist(), vt.cells.tolist()):
        g = f // 2
        got = tuple(prep.position_ids[:, 0, slot].tolist())
        assert got == tuple(full_pos[:, 0, start + g * n_cell + cell].tolist())
        assert got == expected_position(g, cell, start, grid, t_step)
    # the text around the video keeps its uncompressed positions (so the answer's continue alike)
    n_after = int((~is_video[start:]).sum())
    assert torch.equal(prep.position_ids[:, 0, :start], full_pos[:, 0, :start])
    assert torch.equal(prep.position_ids[:, 0, -n_after:], full_pos[:, 0, -n_after:])
    # whole temporal groups only, whole merged 2x2 windows only
    for f, n in vt.tokens_per_frame().items():
        assert f % 2 == 0 and n == n_cell


def test_longvu_temporal_drops_whole_groups_and_keeps_positions(qwen, static_video):
    """A static video: every temporal group repeats, so LongVU's temporal reduction keeps only
    each 16-group window's middle group (known truth); survivors keep their positions."""
    from longvid.compress import create_compressor

    s = static_video(64)  # 32 groups -> two windows of 16 -> groups 8 and 24 survive
    comp = create_compressor("longvu_temporal")
    prep = qwen.prepare(s, QUESTION, compressor=comp, budget=1000)
    vt = prep.visual
    assert sorted(vt.tokens_per_frame()) == [16, 48]
    bound = comp.token_count(num_frames=32, grid=(3, 4), budget=1000)
    assert len(vt) == 24 <= bound.tokens
    check_survivors(qwen, prep, s)
    ids = qwen.generate(prep, max_new_tokens=4)
    assert len(ids) >= 1


@pytest.mark.parametrize("budget", [24, 36])
def test_uniform_by_name_promised_count_and_positions(qwen, video, budget):
    s = qwen.sample(video, fps=4.0, num_frames=None, max_frames=None)  # 16 frames -> 8 groups
    prep = qwen.prepare(s, QUESTION, compressor="uniform", budget=budget)
    from longvid.compress import create_compressor

    promised = create_compressor("uniform").token_count(num_frames=8, grid=(3, 4), budget=budget)
    assert promised.exact and len(prep.visual) == promised.tokens == budget
    assert torch.equal(prep.visual.tokens, prep.inputs_embeds[0, prep.input_ids[0] == qwen.video_token_id])
    check_survivors(qwen, prep, s)


def test_whole_group_summary_refused(qwen, static_video):
    """A token that summarises a whole group (cell -1) has no cell to take a position from."""
    from longvid.errors import InvalidFeaturesError
    from longvid.types import VisualTokens

    def summary(ff, *, budget, query):
        return VisualTokens(ff.features.mean(1), ff.frame_indices, ff.timestamps_s, torch.full((len(ff),), -1))

    with pytest.raises(InvalidFeaturesError, match="cell -1"):
        qwen.prepare(static_video(8), QUESTION, compressor=summary, budget=1000)


@pytest.mark.parametrize("name", ["avg_pool_2x2", "bilinear"])
def test_merged_tokens_take_their_windows_first_position(qwen, video, name):
    """The position rule for merged tokens: a pooled cell (r, c) of the 2x2 grid over the 3x4
    merged grid stands for the window starting at row floor(3r/2), column 2c, and takes that
    cell's place and (t, h, w). Reference: transformers' forward on the uncompressed prompt with
    each pooled token put at its window's first cell and every other video token masked."""
    s = qwen.sample(video, fps=2.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION, compressor=name, budget=1000)
    vt = prep.visual
    assert len(vt) == 4 * 4 and bool((vt.cell_grids == torch.tensor([2, 2])).all())
    pv, thw = qwen.pixels(s.frames)
    full_ids = qwen.prompt_ids(QUESTION, 48)
    mm = (full_ids == qwen.video_token_id).long() * 2
    full_pos = qwen.rope_index(full_ids, thw, s.fps)
    video_slots = (full_ids[0] == qwen.video_token_id).nonzero()[:, 0]
    slots = (prep.input_ids[0] == qwen.video_token_id).nonzero()[:, 0]
    rep_slots = []
    for slot, f, cell in zip(slots.tolist(), vt.frame_indices.tolist(), vt.cells.tolist()):
        r, c = divmod(cell, 2)
        full_slot = int(video_slots[(f // 2) * 12 + (3 * r // 2) * 4 + 2 * c])
        rep_slots.append(full_slot)
        assert torch.equal(prep.position_ids[:, 0, slot], full_pos[:, 0, full_slot])
    with torch.inference_mode():
        embeds = qwen.model.get_input_embeddings()(full_ids)
        embeds[0, video_slots] = qwen.video_features(pv, thw)
        embeds[0, rep_slots] = vt.tokens
        mask = (mm == 0).long()
        mask[0, rep_slots] = 1
        ref = qwen.model(inputs_embeds=embeds, attention_mask=mask, position_ids=full_pos).logits[0, -1]
        mine = qwen.model(inputs_embeds=prep.inputs_embeds, position_ids=prep.position_ids).logits[0, -1]
    assert torch.allclose(mine, ref, atol=1e-4), float((mine - ref).abs().max())


@pytest.mark.parametrize("hw", [(84, 112), (96, 160), (720, 1280), (1080, 1920), (50, 300)])
def test_target_size_is_smart_resize(qwen, hw):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    pre = qwen.pre
    assert pre.target_hw(*hw) == smart_resize(*hw, factor=28, min_pixels=pre.min_pixels, max_pixels=pre.max_pixels)
    frames = np.random.default_rng(1).integers(0, 255, (2, *hw, 3), dtype=np.uint8)
    once = pre.resize(frames)
    assert tuple(once.shape[2:]) == pre.target_hw(*hw) and once.dtype == torch.uint8
    again = pre.resize(once.permute(0, 2, 3, 1).numpy())
    assert torch.equal(once, again)  # the sampler's per-batch resize and the pixels' agree


def test_pixels_match_the_released_image_processor_on_a_still(qwen, qwen_dir):
    """Without torchvision the video processor cannot run, but the PIL image processor can: a still
    image is a video of two identical frames (it repeats the image over the temporal patch)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    ip = Qwen2VLImageProcessorPil.from_pretrained(str(qwen_dir))
    rng = np.random.default_rng(0)
    for hw, exact in (((84, 112), True), ((96, 160), False)):
        img = rng.integers(0, 255, (*hw, 3), dtype=np.uint8)
        ref = ip(images=[img], return_tensors="pt")
        pv, thw = qwen.pre(np.stack([img, img]))
        assert thw.tolist() == ref["image_grid_thw"].tolist()
        diff = (pv - ref["pixel_values"]).abs()
        if exact:  # no resize: layout and normalisation are the processor's, to float precision
            assert float(diff.max()) < 1e-5
        else:  # torch's antialiased bicubic against PIL's bicubic: close, not bit-equal
            assert float(diff.mean()) < 0.01


def test_odd_frame_count_pads_the_last_group(qwen, static_video):
    prep = qwen.prepare(static_video(9), QUESTION)  # 9 frames -> 5 groups, the last one frame repeated
    assert len(prep.visual) == 5 * 12 and prep.num_frames == 9
    assert sorted(prep.visual.tokens_per_frame()) == [0, 2, 4, 6, 8]


def test_compressed_equals_the_full_sequence_with_dropped_tokens_masked(qwen, video):
    """Reference: transformers' own forward on the uncompressed prompt (its own video embedding,
    its own 3D positions) with the dropped video tokens masked out as keys must give the same
    last-position logits as longvid's compressed sequence: same tokens, same slots, same phases."""
    s = qwen.sample(video, fps=4.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION, compressor="uniform", budget=36)
    pv, thw = qwen.pixels(s.frames)
    full_ids = qwen.prompt_ids(QUESTION, int(thw.prod()) // 4)
    mm = (full_ids == qwen.video_token_id).long() * 2
    spg = torch.tensor([qwen.second_per_grid(s.fps)])
    pos, _ = qwen.model.model.get_rope_index(full_ids, mm_token_type_ids=mm, video_grid_thw=thw,
                                             second_per_grid_ts=spg)
    mask = torch.zeros_like(full_ids)
    mask[0, prep.kept] = 1
    assert int(mask.sum()) < full_ids.shape[1]  # something really was dropped
    with torch.inference_mode():
        ref = qwen.model(input_ids=full_ids, attention_mask=mask, position_ids=pos, pixel_values_videos=pv,
                         video_grid_thw=thw, mm_token_type_ids=mm).logits[0, -1]
        mine = qwen.model(inputs_embeds=prep.inputs_embeds, position_ids=prep.position_ids).logits[0, -1]
        plain = qwen.model(inputs_embeds=prep.inputs_embeds).logits[0, -1]  # 1D positions: must differ
    assert torch.allclose(mine, ref, atol=1e-4), float((mine - ref).abs().max())
    assert not torch.allclose(plain, ref, atol=1e-3)
