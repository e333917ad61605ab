"""Qwen-VL engines as an evaluation harness uses them: per-question generation overrides, and
``loglikelihood`` through the same compressed path, checked against transformers' own forward."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from longvid.engines import ScoresLikelihood
from longvid.models.generate import GenerationConfig

QUESTION = "what is red in this video ?"


@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen3_vl"])
def engine(request, tmp_path_factory):
    from longvid.models.qwen_vl import testing
    from longvid.models.qwen_vl.engine import load_qwen_vl_engine

    make = {"qwen2_5_vl": testing.make_qwen2_5_vl, "qwen3_vl": testing.make_qwen3_vl}[request.param]
    folder = make(tmp_path_factory.mktemp(request.param))
    return load_qwen_vl_engine(str(folder), generation=GenerationConfig(max_new_tokens=8, do_sample=False))


def reference_logprobs(m, video, question: str, cont: torch.Tensor) -> torch.Tensor:
    """transformers' own forward on the uncompressed prompt plus the continuation (its own video
    embedding, deepstack and 3D positions): the log-probabilities predicting each continuation id."""
    s = m.sample(video, fps=2.0, num_frames=None, max_frames=None)
    pv, thw = m.pixels(s.frames)
    times = m.group_times(s.timestamps_s) if m.variant.timestamped_prompt else None
    ids = torch.cat([m.prompt_ids(question, int(thw.prod()) // 4, times), cont[None]], dim=1)
    extra = {"second_per_grid_ts": torch.tensor([m.second_per_grid(s.fps)])} if m.variant.timed_positions else {}
    with torch.inference_mode():
        logits = m.model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values_videos=pv,
                         video_grid_thw=thw, mm_token_type_ids=(ids == m.video_token_id).long() * 2, **extra).logits
    n = cont.numel()
    return logits[0, -n - 1:-1].float().log_softmax(-1)


def test_per_question_overrides(engine, video):
    assert engine.run(video, QUESTION, max_new_tokens=1).new_tokens == 1
    assert engine.run(video, QUESTION).new_tokens > 1  # the engine's own setting (8) is back
    assert engine.ask(video, QUESTION, max_new_tokens=2, do_sample=False).text is not None


def test_greedy_continuation_scores_as_greedy_and_equals_transformers(engine, video):
    assert isinstance(engine, ScoresLikelihood)
    m = engine.model
    s = m.sample(video, fps=2.0, num_frames=None, max_frames=None)
    ids = m.generate(m.prepare(s, QUESTION), max_new_tokens=4)  # greedy, stop token included if reached
    cont_text = m.tokenizer.decode(ids)
    cont = torch.tensor(m.tokenizer(cont_text, add_special_tokens=False)["input_ids"], dtype=torch.long)
    assert cont.tolist() == ids and cont.numel() >= 2
    total, greedy = engine.loglikelihood(video, QUESTION, cont_text)
    assert greedy
    ref = reference_logprobs(m, video, QUESTION, cont)
    assert total == pytest.approx(float(ref.gather(1, cont[:, None]).sum()), abs=1e-4)
    mean, _ = engine.loglikelihood(video, QUESTION, cont_text, per_token=True)
    assert mean == pytest.approx(total / cont.numel(), abs=1e-6)
    # a continuation the model would not produce: not greedy, and less likely
    other = m.tokenizer.decode([int(ref[0].argmin())] + cont[1:].tolist())
    worse, g2 = engine.loglikelihood(video, QUESTION, other)
    assert not g2 and worse < total


def test_likelihood_goes_through_the_compressor(engine, video):
    """With a compressor the score is that of the compressed prompt, which differs from 'none'."""
    import dataclasses

    full, _ = engine.loglikelihood(video, QUESTION, "red")
    old = engine.config
    engine.compressor, engine.config = "uniform", dataclasses.replace(old, max_video_tokens=24)
    try:
        s = engine.model.sample(video, fps=2.0, num_frames=None, max_frames=None)
        prep = engine.model.prepare(s, QUESTION, compressor="uniform", budget=24)
        cont = torch.tensor(engine.model.tokenizer("red", add_special_tokens=False)["input_ids"])
        expect = float(engine.model.continuation_logprobs(prep, cont).gather(1, cont[:, None]).sum())
        compressed, _ = engine.loglikelihood(video, QUESTION, "red")
    finally:
        engine.compressor, engine.config = None, old
    assert compressed == pytest.approx(expect, abs=1e-5) and compressed != pytest.approx(full, abs=1e-6)
