"""LongVU's model-level decisions against reference computations of the released code's
documented behaviour: the frame-drop trigger and the config defaults."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from longvid.models.generate import GenerationConfig  # noqa: E402
from longvid.models.longvu.config import LongVUConfig  # noqa: E402


def released_drops_frames(num_frames: int, *, context: int, text_ids: int, reserve: int,
                          highres: bool, lowres_token: int, image_token_len: int) -> bool:
    """The released trigger: text_len is the whole input_ids (the <image> id is one of them);
    frames are dropped unless T < max(1, (context - text_len - reserve) // tokens_per_frame)."""
    per_frame = lowres_token ** 2 if highres else image_token_len
    max_num_frames = max(1, (context - text_ids - reserve) // per_frame)
    return not num_frames < max_num_frames


@pytest.fixture(scope="module")
def longvu_model(longvu_dir):
    from longvid.models.engine import load_model

    return load_model(str(longvu_dir.folder), vision_towers=longvu_dir.vision_towers)


def test_missing_highres_means_off_as_released():
    raw = json.loads(json.dumps({
        "model_type": "cambrian_qwen", "hidden_size": 32,
        "mm_vision_tower_aux_list": ["siglip/CLIP-ViT-SO400M-14-384", "facebook/dinov2-giant-res378"]}))
    cfg = LongVUConfig.from_dict(raw)
    assert cfg.highres is False and cfg.drop_divisor == 144
    assert LongVUConfig.from_dict({**raw, "highres": True}).drop_divisor == 64


@pytest.mark.parametrize("highres", [True, False])
def test_frame_drop_trigger_matches_release(longvu_model, highres):
    from dataclasses import replace

    m = longvu_model
    saved = m.config
    m.config = replace(saved, highres=highres)
    try:
        ctx, reserve, text = saved.context_length, saved.reserve_tokens, 37  # text: longvid's count
        budget = m.context_budget(text)
        differs = 0
        for t in range(1, 40):
            for b in range(budget - 300, budget + 1, 7):
                want = released_drops_frames(t, context=ctx - (budget - b), text_ids=text + 1, reserve=reserve,
                                             highres=highres, lowres_token=8, image_token_len=144)
                assert m.drops_frames(t, b) is want, (t, b)
                differs += want != (t >= b // (64 if highres else 144))
        assert differs > 0  # the <image> id moves the trigger on some budgets
    finally:
        m.config = saved


def test_boundary_budget_drops_frames_end_to_end(longvu_dir, short_video):
    """12 frames and a budget of 13 * 64: longvid's own count keeps every frame (12 < 13), the
    released code's (the <image> id counted, 831 // 64 = 12) reduces them."""
    from longvid.models.engine import load_engine

    probe = load_engine(str(longvu_dir.folder), vision_towers=longvu_dir.vision_towers)
    from longvid.models.prompt import build_prompt

    q = "what color is the square?"
    text = build_prompt(probe.model.tokenizer, q).num_text_tokens
    ctx = 13 * 64 + text + probe.model.config.reserve_tokens
    eng = load_engine(str(longvu_dir.folder), vision_towers=longvu_dir.vision_towers, fps=1.0,
                      context_length=ctx, generation=GenerationConfig(max_new_tokens=1, do_sample=False))
    r = eng.run(str(short_video), q)
    assert r.budget == 13 * 64
    temporal = r.visual_tokens.stats[0]
    assert temporal.stage == "temporal" and temporal.frames_in == 12
    assert temporal.note == ""  # applied
