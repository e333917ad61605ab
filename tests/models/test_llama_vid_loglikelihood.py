"""LLaMA-VID scores a continuation on the sequence it answers from: subtitles interleaved after
their frames, the continuation after the generation prompt; its greedy answer is flagged greedy."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from longvid.models.llama_vid.cache import FeatureCache  # noqa: E402
from longvid.models.llama_vid.testing import make_llama_vid  # noqa: E402
from longvid.synth.testvideo import make_video  # noqa: E402


@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    from longvid.models import load_engine
    from longvid.models.generate import GenerationConfig

    ck = make_llama_vid(tmp_path_factory.mktemp("lv_ll") / "model")
    e = load_engine(str(ck.folder), check_memory=False, generation=GenerationConfig(max_new_tokens=3, do_sample=False))
    e.model.feature_cache = FeatureCache(tmp_path_factory.mktemp("lv_ll_cache"))
    return e


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return str(make_video(tmp_path_factory.mktemp("lv_ll_v") / "v.mp4", duration_s=3.0, fps=5, size=(64, 48),
                          subtitles=[(0.4, 0.9, "a red square"), (2.2, 2.8, "blue cat")]))


def test_scores_on_the_interleaved_sequence(eng, video):
    from longvid.engines import ScoresLikelihood

    assert isinstance(eng, ScoresLikelihood)
    m, q, cont = eng.model, "what is in the video", "a blue cat"
    lp, _ = eng.loglikelihood(video, q, cont)
    # the reference written out: frames' tokens, each followed by its subtitle, then the prompt's end and the continuation
    from longvid.models.prompt import build_prompt

    parts = build_prompt(m.tokenizer, q)
    c = m.tokenizer(cont, add_special_tokens=False)["input_ids"]
    budget = m.context_budget(parts.num_text_tokens + len(c), eng.config.context_length)
    vt = m.video_tokens(video, question=q, budget=budget, fps=eng.config.fps, num_frames=None, max_frames=None)
    emb = m.llm.get_input_embeddings()

    def text(s):
        return emb(torch.tensor(m.tokenizer(s, add_special_tokens=False)["input_ids"]))

    with torch.no_grad():
        x = torch.cat([emb(parts.before_ids), vt.tokens[0:2], text(" a red square"), vt.tokens[2:6], text(" blue cat"),
                       emb(parts.after_ids), emb(torch.tensor(c))])[None]
        logits = m.llm(inputs_embeds=x).logits[0, -len(c) - 1:-1].float()
    ref = float(logits.log_softmax(-1).gather(1, torch.tensor(c)[:, None]).sum())
    assert lp == pytest.approx(ref, abs=1e-4)
    eng.transcript = "none"  # without the subtitles the same continuation scores differently
    try:
        assert eng.loglikelihood(video, q, cont)[0] != pytest.approx(lp, abs=1e-4)
    finally:
        eng.transcript = "auto"


def test_the_greedy_answer_is_flagged_greedy(eng, video):
    q = "where is the cat"
    res = eng.run(video, q)
    ids = eng.model.tokenizer(res.answer.text, add_special_tokens=False)["input_ids"]
    assert res.new_tokens == len(ids) >= 1
    lp, greedy = eng.loglikelihood(video, q, res.answer.text)
    assert greedy and lp < 0
    assert eng.loglikelihood(video, q, res.answer.text, per_token=True)[0] == pytest.approx(lp / len(ids), rel=1e-5)
