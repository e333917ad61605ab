"""The LLaVA-OneVision engine as an evaluation harness uses it: per-question generation overrides,
and ``loglikelihood`` through the same compressed path, checked against transformers' own forward."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from longvid.engines import ScoresLikelihood
from longvid.models.generate import GenerationConfig

QUESTION = "what is red in this video ?"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from longvid.models.llava_onevision.engine import load_onevision_engine
    from longvid.models.llava_onevision.testing import make_llava_onevision

    folder = make_llava_onevision(tmp_path_factory.mktemp("ov_ll"))
    return load_onevision_engine(str(folder), num_frames=6,
                                 generation=GenerationConfig(max_new_tokens=8, do_sample=False))


def test_per_question_overrides(engine, video):
    assert engine.run(video, QUESTION, max_new_tokens=1).new_tokens == 1
    assert engine.run(video, QUESTION).new_tokens > 1  # the engine's own setting (8) is back


def test_greedy_continuation_scores_as_greedy_and_equals_transformers(engine, video):
    """Reference: transformers' forward on the uncompressed prompt plus the continuation (its own
    video features, newline and positions), log-probabilities taken here."""
    assert isinstance(engine, ScoresLikelihood)
    m = engine.model
    frames = m.sample(video, num_frames=6)
    ids = m.generate(m.prepare(frames, QUESTION), max_new_tokens=4)
    cont_text = m.tokenizer.decode(ids)
    cont = torch.tensor(m.tokenizer(cont_text, add_special_tokens=False)["input_ids"], dtype=torch.long)
    assert cont.tolist() == ids and cont.numel() >= 2
    total, greedy = engine.loglikelihood(video, QUESTION, cont_text)
    assert greedy
    full = torch.cat([m.prompt_ids(QUESTION, 6 * 16 + 1), cont[None]], dim=1)
    with torch.inference_mode():
        logits = m.model(input_ids=full, attention_mask=torch.ones_like(full),
                         pixel_values_videos=m.pixels(frames.frames)).logits
    ref = logits[0, -cont.numel() - 1:-1].float().log_softmax(-1)
    assert total == pytest.approx(float(ref.gather(1, cont[:, None]).sum()), abs=1e-4)
    mean, _ = engine.loglikelihood(video, QUESTION, cont_text, per_token=True)
    assert mean == pytest.approx(total / cont.numel(), abs=1e-6)
    other = m.tokenizer.decode([int(ref[0].argmin())] + cont[1:].tolist())
    worse, g2 = engine.loglikelihood(video, QUESTION, other)
    assert not g2 and worse < total


def test_likelihood_goes_through_the_compressor(engine, video):
    full, _ = engine.loglikelihood(video, QUESTION, "red")
    old = engine.config
    engine.compressor, engine.config = "uniform", dataclasses.replace(old, max_video_tokens=48)
    try:
        prep = engine.model.prepare(engine.model.sample(video, num_frames=6), QUESTION, compressor="uniform", budget=48)
        cont = torch.tensor(engine.model.tokenizer("red", add_special_tokens=False)["input_ids"])
        expect = float(engine.model.continuation_logprobs(prep, cont).gather(1, cont[:, None]).sum())
        compressed, _ = engine.loglikelihood(video, QUESTION, "red")
    finally:
        engine.compressor, engine.config = None, old
    assert len(prep.visual) == 48
    assert compressed == pytest.approx(expect, abs=1e-5) and compressed != pytest.approx(full, abs=1e-6)
