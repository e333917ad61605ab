"""LongVA's context: the released code cuts the embedded sequence (text + every frame's 144
tokens) to ``tokenizer_model_max_length``; longvid budgets to ``max_position_embeddings`` and keeps
the question, warning when the released code would have cut it."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from longvid.models.longva.config import LongVAConfig


def test_config_reads_the_released_cut():
    base = {"model_type": "llava_qwen", "hidden_size": 32, "mm_vision_tower": "openai/clip-vit-large-patch14-336"}
    assert LongVAConfig.from_dict({**base, "tokenizer_model_max_length": 2048}).truncation_length == 2048
    assert LongVAConfig.from_dict(base).truncation_length is None


def test_warns_when_the_released_code_would_cut_the_question(longva_dir, short_video, caplog):
    pytest.importorskip("transformers")
    from longvid.models.engine import load_engine
    from longvid.models.generate import GenerationConfig

    # the tiny checkpoint: tokenizer_model_max_length 2048, max_position_embeddings 2000
    eng = load_engine(str(longva_dir.folder), vision_towers=longva_dir.vision_towers, num_frames=15,
                      generation=GenerationConfig(max_new_tokens=1, do_sample=False))
    question = "what color is the square?"
    limit = eng.model.config.truncation_length
    with caplog.at_level(logging.WARNING, logger="longvid.models.longva.model"):
        r = eng.run(str(short_video), question)
    tail = len(eng.model.tokenizer(question)["input_ids"])  # at least the question follows the video
    released = 15 * 144 + tail  # the released sequence: every frame's tokens, then the question
    assert released > limit
    assert any("would cut" in rec.getMessage() for rec in caplog.records)
    assert len(r.visual_tokens) <= r.budget  # longvid's own budget holds, the question is kept

    caplog.clear()
    eng.config = replace(eng.config, num_frames=4)
    with caplog.at_level(logging.WARNING, logger="longvid.models.longva.model"):
        eng.run(str(short_video), question)
    assert 4 * 144 + tail <= limit
    assert not any("would cut" in rec.getMessage() for rec in caplog.records)
