"""The memory planner: numbers from config.json alone, refusal with the numbers."""

from __future__ import annotations

import pytest

from longvid.errors import BudgetError
from longvid.models.memory import GiB, plan_for_config

QWEN2_7B = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, tie_word_embeddings=False)
LONGVU_KEYS = dict(model_type="cambrian_qwen", mm_projector_type="sva", vision_hidden_size=1024,
                   mm_vision_tower_aux_list=["siglip/CLIP-ViT-SO400M-14-384", "facebook/dinov2-giant-res378"],
                   mm_vision_tower_aux_token_len_list=[576, 576], query_num_list=[144], image_token_len=144,
                   tokenizer_model_max_length=8192)
LONGVA_KEYS = dict(model_type="llava_qwen", mm_vision_tower="openai/clip-vit-large-patch14-336",
                   mm_projector_type="mlp2x_gelu", mm_hidden_size=1024, mm_patch_merge_type="unires",
                   tokenizer_model_max_length=224000, max_position_embeddings=224000)


def test_longvu_7b_plan_on_80gb():
    import torch

    plan = plan_for_config({**QWEN2_7B, **LONGVU_KEYS}, "longvu", device="cpu", dtype=torch.bfloat16,
                           available=80 * GiB)
    # Qwen2-7B 7.6e9 + SigLIP-SO400M 0.43e9 + DINOv2-g 1.14e9 + aggregator, 2 bytes each
    assert 16.5 * GiB < plan.weights_bytes < 18.0 * GiB  # 9.24e9 parameters
    assert plan.bytes_per_frame == 144 * (1024 + 3584) * 2  # aggregated + projected 12x12 tokens per frame
    assert plan.frames_that_fit > 10_000  # compression bounds the sequence: frames cost only tokens
    assert "frames fit" in plan.describe()
    plan.check(frames=10_000)


def test_longva_7b_grows_with_frames_and_refuses_with_numbers():
    import torch

    plan = plan_for_config({**QWEN2_7B, **LONGVA_KEYS}, "longva", device="cpu", dtype=torch.bfloat16,
                           available=80 * GiB)
    kv = 2 * 28 * 4 * 128 * 2
    assert plan.bytes_per_frame > 144 * kv  # every frame adds 144 tokens of KV cache and activations
    assert 500 < plan.frames_that_fit < 5000
    with pytest.raises(BudgetError, match=r"\d+ frames do not fit: cpu: 80\.00 GiB free; weights 1[45]\.\d\d GiB"):
        plan.check(frames=plan.frames_that_fit + 1)
    small = plan_for_config({**QWEN2_7B, **LONGVA_KEYS}, "longva", dtype=torch.bfloat16, available=8 * GiB)
    with pytest.raises(BudgetError, match="the model does not fit"):
        small.check()


def test_unknown_device_memory_is_not_checked():
    plan = plan_for_config({**QWEN2_7B, **LONGVU_KEYS}, "longvu", device="meta")
    assert plan.available_bytes is None and plan.frames_that_fit is None
    assert plan.check(frames=10**6) is plan


def test_engine_refuses_a_video_that_does_not_fit(longva_tiny, short_video):
    from longvid.models.engine import load_engine, plan_memory

    folder, towers = longva_tiny.folder, longva_tiny.vision_towers
    plan = plan_memory(str(folder))
    assert plan.frames_that_fit > 0 and plan.weights_bytes > 0
    eng = load_engine(str(folder), vision_towers=towers)
    # the same engine on a device with room for the weights and 3 frames only
    eng.plan = plan_for_config(__import__("json").loads((folder / "config.json").read_text()), "longva",
                               available=plan.weights_bytes + plan.fixed_bytes + 3 * plan.bytes_per_frame)
    assert eng.plan.frames_that_fit == 3
    with pytest.raises(BudgetError, match=r"12 frames do not fit: .* -> 3 frames fit"):
        eng.ask(str(short_video), "what color is the square?")


@pytest.fixture(scope="module")
def longva_tiny(tmp_path_factory):
    from longvid.models.testing import make_longva

    return make_longva(tmp_path_factory.mktemp("longva_mem"))
