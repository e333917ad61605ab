"""Qwen3-VL through the shared Qwen-VL path: a tiny random checkpoint built here, longvid's path
against transformers' own generate, its timestamped prompt against its processor's text, and a
compressor whose survivors keep their uncompressed positions and deepstack features.

Qwen3-VL differs from Qwen2.5-VL in its prompt (each temporal group its own segment, after a
``<t seconds>`` timestamp), its rotary index (each segment's t, h, w start at the running
position), its deepstack features, patch 16 and its video-wide pixel bounds."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from longvid.errors import ModelLoadError
from longvid.models.generate import GenerationConfig

QUESTION = "what is red in this video ?"


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    from longvid.models.qwen_vl.testing import make_qwen3_vl

    return make_qwen3_vl(tmp_path_factory.mktemp("qwen3_vl"), seed=1)


@pytest.fixture(scope="module")
def qwen(qwen_dir):
    from longvid.models.qwen_vl.model import QwenVLModel

    return QwenVLModel.from_pretrained(qwen_dir)


def test_registered_and_config_claimed(qwen_dir):
    from longvid.engines import list_engines
    from longvid.models import list_families
    from longvid.models.registry import family_for_config

    assert {"qwen2_vl", "qwen2_5_vl", "qwen3_vl"} <= set(list_families()) and "qwen3_vl" in list_engines()
    raw = json.loads((qwen_dir / "config.json").read_text())
    fam = family_for_config(raw)
    assert fam.name == "qwen3_vl"
    cfg = fam.parse_config(raw)
    assert (cfg.temporal_patch_size, cfg.spatial_merge_size, cfg.tokens_per_second) == (2, 2, None)
    with pytest.raises(ModelLoadError, match="not a Qwen3-VL"):
        fam.parse_config({**raw, "model_type": "qwen2_5_vl"})


def test_saved_and_loaded_with_qwen3_vl_class(qwen_dir, qwen):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json",
                 "video_preprocessor_config.json", "chat_template.json"):
        assert (qwen_dir / name).is_file(), name
    assert type(qwen.model).__name__ == "Qwen3VLForConditionalGeneration" and qwen.family == "qwen3_vl"
    assert list(qwen.model.config.vision_config.deepstack_visual_indexes) == [0, 1]
    assert (qwen.pre.patch_size, qwen.pre.mean, qwen.pre.video_budget) == (16, (0.5, 0.5, 0.5), True)


@pytest.mark.parametrize("frames,h,w", [(8, 84, 112), (64, 84, 112), (200, 480, 640), (3, 20, 300)])
def test_size_is_the_processors_video_wide_smart_resize(qwen, frames, h, w):
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

    ref = smart_resize(frames, h, w, temporal_factor=2, factor=32, min_pixels=qwen.pre.min_pixels,
                       max_pixels=qwen.pre.max_pixels)
    assert qwen.pre.target_hw(h, w, frames) == ref


def test_prompt_is_the_processors_timestamped_text(qwen, video):
    """Each group is '<t seconds><|vision_start|>pads<|vision_end|>' with t the mean of its two
    frames' times, exactly as transformers' Qwen3VLProcessor writes it."""
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
    from transformers.video_utils import VideoMetadata

    s = qwen.sample(video, fps=2.0, num_frames=None, max_frames=None)
    assert len(s.timestamps_s) == 8
    thw = qwen.pixels(s.frames)[1]
    fake = SimpleNamespace(video_processor=SimpleNamespace(merge_size=2, temporal_patch_size=2),
                           video_token="<|video_pad|>", vision_start_token="<|vision_start|>",
                           vision_end_token="<|vision_end|>",
                           _calculate_timestamps=lambda i, f, m: Qwen3VLProcessor._calculate_timestamps(None, i, f, m))
    # the test video has 8 fps: frame index = time * 8
    meta = VideoMetadata(total_num_frames=32, fps=8.0, frames_indices=[round(t * 8) for t in s.timestamps_s])
    ref = Qwen3VLProcessor.replace_video_token(fake, {"video_grid_thw": thw, "video_metadata": [meta]}, 0)
    mine = qwen.video_placeholder(int(thw.prod()) // 4, qwen.group_times(s.timestamps_s))
    assert mine == ref and ref.startswith("<0.2 seconds><|vision_start|>") and ref.count("seconds") == 4


def test_none_matches_transformers_generate(qwen, video):
    """Compression 'none': longvid's path (its own loop, deepstack through the language model)
    gives exactly transformers' own generate tokens (greedy)."""
    s = qwen.sample(video, fps=2.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION)
    mine = qwen.generate(prep, max_new_tokens=12)
    pv, thw = qwen.pixels(s.frames)
    ids = qwen.prompt_ids(QUESTION, int(thw.prod()) // 4, qwen.group_times(s.timestamps_s))
    assert torch.equal(ids, prep.input_ids)
    ref = qwen.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values_videos=pv,
                              video_grid_thw=thw, mm_token_type_ids=(ids == qwen.video_token_id).long() * 2,
                              do_sample=False, max_new_tokens=12)
    assert len(mine) >= 4 and mine == ref[0, ids.shape[1]:].tolist()
    assert len(set(mine)) > 1


def test_deepstack_changes_the_answer(qwen, video):
    """The deepstack features do reach the LLM: without them the last logits differ."""
    s = qwen.sample(video, fps=2.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION)
    mask = prep.input_ids == qwen.video_token_id
    with torch.inference_mode():
        with_ds = qwen.forward(prep.inputs_embeds, prep.position_ids, deepstack=prep.deepstack, visual_mask=mask)
        without = qwen.forward(prep.inputs_embeds, prep.position_ids)
    assert not torch.allclose(with_ds.logits[0, -1], without.logits[0, -1], atol=1e-3)


def _segments(ids, video_id, start_id, end_id):
    """(first pad, number of pads) of each vision segment, walking the ids."""
    out, i, seq = [], 0, ids.tolist()
    while i < len(seq):
        if seq[i] == start_id and i + 1 < len(seq) and seq[i + 1] == video_id:
            j = i + 1
            while seq[j] == video_id:
                j += 1
            assert seq[j] == end_id
            out.append((i + 1, j - i - 1))
            i = j
        i += 1
    return out


def test_uniform_keeps_positions_and_drops_whole_segments(qwen, video):
    """A temporal compressor keeps 2 of 4 groups: the dropped groups lose their whole segment
    (timestamp, markers, pads); each survivor keeps its uncompressed (t, h, w), which by
    Qwen3-VL's rule is (s, s + row, s + col) for its segment's first position s."""
    s = qwen.sample(video, fps=2.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION, compressor="uniform", budget=24)
    vt = prep.visual
    assert len(vt) == 24 and sorted(vt.tokens_per_frame()) == [2, 6]
    tok = qwen.tokenizer
    vid, st, en = qwen.video_token_id, tok.convert_tokens_to_ids("<|vision_start|>"), tok.convert_tokens_to_ids("<|vision_end|>")
    text = tok.decode(prep.input_ids[0])
    assert "< 1 . 2 seconds >" in text and "< 3 . 2 seconds >" in text and "< 0 . 2 seconds >" not in text
    full_ids = qwen.prompt_ids(QUESTION, 48, qwen.group_times(s.timestamps_s))
    full_pos, _ = qwen.model.model.get_rope_index(full_ids, mm_token_type_ids=(full_ids == vid).long() * 2,
                                                  video_grid_thw=torch.tensor([[4, 6, 8]]))
    assert torch.equal(prep.full_positions, full_pos)
    full_segs = _segments(full_ids[0], vid, st, en)
    segs = _segments(prep.input_ids[0], vid, st, en)
    assert [n for _, n in full_segs] == [12] * 4 and [n for _, n in segs] == [12, 12]
    for (first, _), group in zip(segs, (1, 3)):
        s0 = int(full_pos[0, 0, full_segs[group][0]])
        for cell in range(12):
            r, c = divmod(cell, 4)
            assert tuple(prep.position_ids[:, 0, first + cell].tolist()) == (s0, s0 + r, s0 + c)
    for i, j in enumerate(prep.kept.tolist()):  # every kept token, text or video, keeps its position
        assert torch.equal(prep.position_ids[:, 0, i], full_pos[:, 0, j])
    assert torch.equal(prep.input_ids[0], full_ids[0, prep.kept])
    assert [d.shape[0] for d in prep.deepstack] == [24, 24]


def test_compressed_equals_full_sequence_with_dropped_tokens_masked(qwen, video):
    """Reference: transformers' forward on the uncompressed prompt (its own video embedding,
    deepstack and 3D positions) with the dropped tokens masked gives longvid's compressed logits."""
    s = qwen.sample(video, fps=4.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION, compressor="longvu_temporal", budget=48)
    pv, thw = qwen.pixels(s.frames)
    full_ids = qwen.prompt_ids(QUESTION, int(thw.prod()) // 4, qwen.group_times(s.timestamps_s))
    mm = (full_ids == qwen.video_token_id).long() * 2
    pos, _ = qwen.model.model.get_rope_index(full_ids, mm_token_type_ids=mm, video_grid_thw=thw)
    mask = torch.zeros_like(full_ids)
    mask[0, prep.kept] = 1
    assert int(mask.sum()) < full_ids.shape[1] and len(prep.visual) < int(mm.sum()) // 2
    with torch.inference_mode():
        ref = qwen.model(input_ids=full_ids, attention_mask=mask, position_ids=pos, pixel_values_videos=pv,
                         video_grid_thw=thw, mm_token_type_ids=mm).logits[0, -1]
        mine = qwen.forward(prep.inputs_embeds, prep.position_ids, deepstack=prep.deepstack,
                            visual_mask=prep.input_ids == qwen.video_token_id).logits[0, -1]
    assert torch.allclose(mine, ref, atol=1e-4), float((mine - ref).abs().max())


def test_merged_tokens_deepstack_is_the_window_mean(qwen, video):
    """avg_pool_2x2 on the 3x4 grid: each pooled token's deepstack copy is the same area pool of
    the deepstack features, and its position is its window's first cell's."""
    s = qwen.sample(video, fps=2.0, num_frames=None, max_frames=None)
    prep = qwen.prepare(s, QUESTION, compressor="avg_pool_2x2", budget=1000)
    _, deep = qwen.video_features_deepstack(*qwen.pixels(s.frames))
    for mine, full in zip(prep.deepstack, deep):
        ref = torch.nn.functional.adaptive_avg_pool2d(full.view(4, 3, 4, -1).permute(0, 3, 1, 2), (2, 2))
        assert torch.allclose(mine, ref.permute(0, 2, 3, 1).reshape(16, -1), atol=1e-5)
    full_ids = qwen.prompt_ids(QUESTION, 48, qwen.group_times(s.timestamps_s))
    video_slots = (full_ids[0] == qwen.video_token_id).nonzero()[:, 0]
    slots = (prep.input_ids[0] == qwen.video_token_id).nonzero()[:, 0]
    for slot, f, cell in zip(slots.tolist(), prep.visual.frame_indices.tolist(), prep.visual.cells.tolist()):
        r, c = divmod(cell, 2)
        full_slot = int(video_slots[(f // 2) * 12 + (3 * r // 2) * 4 + 2 * c])
        assert torch.equal(prep.position_ids[:, 0, slot], prep.full_positions[:, 0, full_slot])


def test_memory_profile_counts_deepstack_copies(qwen_dir):
    from longvid.models.registry import family_for_config

    raw = json.loads((qwen_dir / "config.json").read_text())
    fam = family_for_config(raw)
    prof = fam.memory_profile(fam.parse_config(raw))
    # 448x448 at patch 16 / merge 2: 14x14 merged tokens a group of 2 frames -> 98 a frame, width 32 x (1 + 2)
    assert (prof.held_tokens_per_frame, prof.held_width, prof.encoder_tokens) == (98, 96, 392)


def test_engine_by_family_name(qwen_dir, video):
    from longvid.engines import create_engine

    eng = create_engine("qwen3_vl", model=str(qwen_dir), generation=GenerationConfig(max_new_tokens=4, do_sample=False))
    res = eng.run(video, QUESTION)
    assert res.answer.engine == "qwen3_vl" and res.new_tokens >= 1
    assert len(res.visual_tokens) == 4 * 12  # 8 frames at 2 fps -> 4 groups of 4x3
