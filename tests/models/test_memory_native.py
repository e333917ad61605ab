"""The memory planner on the transformers-native families (Qwen-VL, LLaVA-OneVision): real-size
configs on the meta device (no weights), the per-frame model, and the engines' refusals."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from longvid.errors import BudgetError
from longvid.models.memory import GiB, plan_for_config

QUESTION = "what is red in this video ?"


def real_configs():
    from longvid.models.llava_onevision.testing import LLAVA_ONEVISION_7B
    from longvid.models.qwen_vl.testing import QWEN2_5_VL_7B, QWEN3_VL_8B

    return {"qwen2_5_vl": (QWEN2_5_VL_7B, "Qwen2_5_VLConfig", "Qwen2_5_VLForConditionalGeneration"),
            "qwen3_vl": (QWEN3_VL_8B, "Qwen3VLConfig", "Qwen3VLForConditionalGeneration"),
            "llava_onevision": (LLAVA_ONEVISION_7B, "LlavaOnevisionConfig",
                                "LlavaOnevisionForConditionalGeneration")}


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "llava_onevision"])
def test_real_size_weights_within_2_percent_of_the_model_class(family):
    """Reference: the transformers model class itself, built on the meta device, counted here."""
    import transformers

    raw, cfg_name, model_name = real_configs()[family]
    with torch.device("meta"):
        model = getattr(transformers, model_name)(getattr(transformers, cfg_name).from_dict(dict(raw)))
    direct = sum(p.numel() for p in model.parameters()) * 2
    plan = plan_for_config(raw, family, dtype=torch.bfloat16, available=80 * GiB)
    assert abs(plan.weights_bytes - direct) <= 0.02 * direct
    assert 7.5e9 * 2 < plan.weights_bytes < 9.5e9 * 2  # the 7B/8B releases: 8.0-8.8e9 parameters
    assert plan.frames_that_fit > 100


def test_per_frame_cost_counts_tower_held_tokens_and_sequence():
    """Qwen2.5-VL-7B at the 448x448 planning frame, every term written out: 128 merged tokens a
    frame held at 3584 wide; 512 tower patches a frame (1280 wide) all in the tower at once;
    every frame's 128 tokens in the LLM sequence (KV cache + one layer's activations)."""
    raw = real_configs()["qwen2_5_vl"][0]
    plan = plan_for_config(raw, "qwen2_5_vl", dtype=torch.bfloat16, available=80 * GiB)
    kv = 2 * 28 * 4 * 128 * 2
    act = (4 * 3584 + 3 * 18944) * 2
    held = 128 * 3584 * 2 + 512 * 1280 * 8 * 2
    assert plan.tokens_per_frame == 128 and plan.bytes_per_token == kv + act
    assert plan.bytes_per_frame == held + 128 * (kv + act)
    assert plan.fixed_bytes == 0  # no chunk: the tower's activations are a per-frame cost here
    assert plan.frames_that_fit == (80 * GiB - plan.weights_bytes) // plan.bytes_per_frame
    # a compressor bounding the sequence at 8192 tokens fits more frames: only held + tower grow
    bounded = plan.frames_for(lambda n: min(8192, 128 * n))
    assert bounded == (80 * GiB - plan.weights_bytes - 8192 * (kv + act)) // held
    assert bounded > 2 * plan.frames_that_fit


def test_onevision_tower_sees_its_full_grid_per_frame():
    raw = real_configs()["llava_onevision"][0]
    plan = plan_for_config(raw, "llava_onevision", dtype=torch.bfloat16, available=80 * GiB)
    kv, act = 2 * 28 * 4 * 128 * 2, (4 * 3584 + 3 * 18944) * 2
    assert plan.bytes_per_frame == 196 * 3584 * 2 + 27 * 27 * 1152 * 8 * 2 + 196 * (kv + act)


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    from longvid.models.qwen_vl.testing import make_qwen2_5_vl

    return make_qwen2_5_vl(tmp_path_factory.mktemp("qwen_mem"))


@pytest.fixture(scope="module")
def ov_dir(tmp_path_factory):
    from longvid.models.llava_onevision.testing import make_llava_onevision

    return make_llava_onevision(tmp_path_factory.mktemp("ov_mem"))


def room_for(plan, frames: int) -> int:
    return plan.weights_bytes + plan.fixed_bytes + frames * plan.bytes_per_frame


def test_qwen_engine_plans_before_loading_and_refuses_with_numbers(qwen_dir, video):
    from longvid.models.qwen_vl.engine import load_qwen_vl_engine

    eng = load_qwen_vl_engine(str(qwen_dir))
    assert eng.plan is not None and eng.plan.weights_bytes > 0  # planned on load
    raw = json.loads((qwen_dir / "config.json").read_text())
    plan = plan_for_config(raw, "qwen2_5_vl")
    eng.plan = plan_for_config(raw, "qwen2_5_vl", available=room_for(plan, 4))
    assert eng.plan.frames_that_fit == 4  # at the 448x448 planning frame: 128 LLM tokens a frame
    # the question's check counts this video's own sequence: 4x3 merged tokens per group of 2
    # frames (an odd count's last group is whole), beside each frame's held tokens and tower
    held = plan.bytes_per_frame - plan.tokens_per_frame * plan.bytes_per_token
    fits = [k for k in range(1, 20)
            if plan.weights_bytes + k * held + 12 * -(-k // 2) * plan.bytes_per_token <= room_for(plan, 4)]
    assert 4 <= max(fits) < 8
    with pytest.raises(BudgetError, match=rf"8 frames do not fit: .* -> {max(fits)} frames fit"):  # 4 s at 2 fps
        eng.ask(video, QUESTION)
    with pytest.raises(BudgetError, match=r"8 frames do not fit"):
        eng.loglikelihood(video, QUESTION, "red")
    # a compressor bounding the LLM's tokens (the video's own 4x3 merged grid: 12 a group) lets a
    # device that holds 8 frames but not their full sequence take them
    eng.compressor, eng.config = "uniform", type(eng.config)(max_video_tokens=24)
    eng.plan = plan_for_config(raw, "qwen2_5_vl", available=plan.weights_bytes + 8 * held + 24 * plan.bytes_per_token)
    assert eng.plan.frames_that_fit < 8 and eng.plan.frames_for(lambda n: 24) == 8
    assert len(eng.run(video, QUESTION, max_new_tokens=2).visual_tokens) <= 24


def test_onevision_engine_refuses_with_numbers(ov_dir, video):
    from longvid.models.llava_onevision.engine import load_onevision_engine

    eng = load_onevision_engine(str(ov_dir), num_frames=6)
    assert eng.plan is not None
    raw = json.loads((ov_dir / "config.json").read_text())
    plan = plan_for_config(raw, "llava_onevision")
    assert plan.tokens_per_frame == 16  # the 7x7 tower grid pooled to 4x4
    # room for 4 frames and the one newline token after the video
    eng.plan = plan_for_config(raw, "llava_onevision", available=room_for(plan, 4) + plan.bytes_per_token)
    with pytest.raises(BudgetError, match=r"6 frames do not fit: .* -> 4 frames fit"):
        eng.ask(video, QUESTION)


def test_a_model_that_does_not_fit_is_refused_before_loading(qwen_dir, monkeypatch):
    import longvid.models.memory as memory
    from longvid.models.qwen_vl.engine import load_qwen_vl_engine

    monkeypatch.setattr(memory, "available_bytes", lambda device: 1000)
    with pytest.raises(BudgetError, match="the model does not fit"):
        load_qwen_vl_engine(str(qwen_dir))
