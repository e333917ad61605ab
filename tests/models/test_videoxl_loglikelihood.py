"""Video-XL scores a continuation through its beacon prefill (the ScoresLikelihood capability):
the greedy answer is flagged greedy, and with r=1 in one window the log-probs are a plain forward's."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from longvid.synth import testvideo as media  # noqa: E402

WINDOW = 288  # two frames of 144 tokens


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from longvid.models.videoxl.testing import make_videoxl

    return make_videoxl(tmp_path_factory.mktemp("videoxl_ll"), window=WINDOW)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("videoxl_ll_media")
    return str(media.make_video(d / "clip.mp4", duration_s=4.0, fps=4, size=(96, 64),
                                scenes=((0.0, (200, 40, 40), "red"), (2.0, (40, 200, 40), "green"))))


def engine(ckpt, num_frames, ratio):
    from longvid.models import load_engine
    from longvid.models.generate import GenerationConfig

    eng = load_engine(str(ckpt.folder), vision_towers=ckpt.vision_towers, num_frames=num_frames,
                      generation=GenerationConfig(max_new_tokens=3, do_sample=False))
    eng.ratio = ratio
    return eng


def test_is_a_likelihood_scorer_and_the_greedy_answer_is_flagged_greedy(ckpt, clip):
    from longvid.engines import ScoresLikelihood

    eng = engine(ckpt, 5, 4)  # three windows, beacons at ratio 4
    assert isinstance(eng, ScoresLikelihood)
    q = "what colour is the square?"
    res = eng.run(clip, q)
    ids = eng.model.tokenizer(res.answer.text, add_special_tokens=False)["input_ids"]
    assert res.new_tokens == len(ids) >= 1  # the answer's text gives back its tokens
    lp, greedy = eng.loglikelihood(clip, q, res.answer.text)
    assert greedy and lp < 0
    mean, _ = eng.loglikelihood(clip, q, res.answer.text, per_token=True)
    assert mean == pytest.approx(lp / len(ids), rel=1e-5)
    vocab = eng.model.tokenizer.get_vocab()
    other = next(w for w in ("red", "green", "square", "cat") if w in vocab and vocab[w] != ids[0])
    lp2, greedy2 = eng.loglikelihood(clip, q, other)
    assert not greedy2


def test_ratio_one_in_one_window_gives_a_plain_forwards_log_probs(ckpt, clip, monkeypatch):
    from longvid.models.prompt import build_prompt
    from longvid.models.videoxl.beacon import BeaconPrefill

    seen = []
    feed = BeaconPrefill.add_video

    def recording(self, tokens, *a):
        seen.append(tokens.clone())
        return feed(self, tokens, *a)

    monkeypatch.setattr(BeaconPrefill, "add_video", recording)
    eng = engine(ckpt, 2, 1)  # 2 x 144 raw tokens: exactly one window, kept whole
    q, cont = "what is shown?", "red square"
    lp, _ = eng.loglikelihood(clip, q, cont)
    m = eng.model
    parts = build_prompt(m.tokenizer, q, system=eng.config.system, date_string=eng.config.date_string)
    c = torch.tensor(m.tokenizer(cont, add_special_tokens=False)["input_ids"])
    emb = m.llm.get_input_embeddings()
    video = torch.cat(seen)
    assert video.shape[0] == WINDOW
    with torch.no_grad():
        x = torch.cat([emb(parts.before_ids), video, emb(parts.after_ids), emb(c)])[None]
        logits = m.llm(inputs_embeds=x).logits[0, -c.numel() - 1:-1].float()
    ref = float(logits.log_softmax(-1).gather(1, c[:, None]).sum())
    assert lp == pytest.approx(ref, abs=1e-3)


def test_an_empty_continuation_is_refused(ckpt, clip):
    with pytest.raises(ValueError, match="continuation is empty"):
        engine(ckpt, 2, 4).loglikelihood(clip, "what", "")


def test_ratio_through_the_engine_registry(ckpt, clip):
    from longvid.engines import create_engine
    from longvid.errors import ModelLoadError

    eng = create_engine("videoxl", model=str(ckpt.folder), ratio=8, vision_towers=ckpt.vision_towers, num_frames=2)
    assert eng.ratio == 8 and eng.run(clip, "what").run.ratio == 8
    with pytest.raises(ModelLoadError, match="divide the window"):
        create_engine("videoxl", model=str(ckpt.folder), ratio=7, vision_towers=ckpt.vision_towers)
