"""The lmms-eval plugin: found through its entry point, and answering lmms-eval shaped requests."""

import importlib
from importlib.metadata import entry_points
from types import SimpleNamespace

import pytest

from longvid.errors import LongvidError
from longvid.eval.lmms_adapter import LongvidLMM, parse_model_args
from longvid.synth.clips import packaged_clips
from longvid.types import Answer


class EchoEngine:
    name = "echo"

    def __init__(self, reply="The answer is B.\nUser: more"):
        self.reply = reply
        self.calls = []

    def ask(self, video, question):
        self.calls.append((video, question))
        return Answer(question=question, text=self.reply, evidence=(), grounded=False, engine=self.name)


class LogitEngine(EchoEngine):
    """Two tokens per continuation; "B" is likely and greedy."""

    def loglikelihood(self, video, context, continuation, *, per_token=False):
        total = -1.0 if continuation == "B" else -7.0
        return (total / 2 if per_token else total), continuation == "B"


def _model(engine):
    m = LongvidLMM(engine=engine)
    clip = str(packaged_clips()[0])
    m.task_dict = {"videomme": {"test": [{"video": clip, "answer": "B"}, {"video": "pic.png"}]}}
    return m, clip


def test_entry_point_resolves_to_the_adapter():
    (ep,) = [e for e in entry_points(group="lmms_eval.models") if e.name == "longvid"]
    manifests = ep.load()()
    (m,) = manifests
    assert m.model_id == "longvid"
    module, cls = m.simple_class_path.rsplit(".", 1)
    klass = getattr(importlib.import_module(module), cls)
    assert klass is LongvidLMM and klass.is_simple
    for method in ("generate_until", "loglikelihood", "create_from_arg_string"):
        assert callable(getattr(klass, method))


def test_generate_until_asks_the_engine_about_the_docs_video():
    eng = EchoEngine()
    m, clip = _model(eng)
    req = SimpleNamespace(
        args=(
            "Which? A. x B. y",
            {"until": ["\nUser:"], "max_new_tokens": 8},
            lambda doc: [doc["video"]],
            0,
            "videomme",
            "test",
        )
    )
    assert m.generate_until([req]) == ["The answer is B."]
    assert eng.calls == [(clip, "Which? A. x B. y")]


def test_a_request_without_video_is_an_error():
    m, _ = _model(EchoEngine())
    req = SimpleNamespace(args=("q", {}, lambda doc: [doc["video"]], 1, "videomme", "test"))
    with pytest.raises(LongvidError, match="no video"):
        m.generate_until([req])


def test_loglikelihood_needs_logits():
    m, _ = _model(EchoEngine())
    req = SimpleNamespace(
        args=("ctx", lambda doc: doc["answer"], lambda doc: [doc["video"]], 0, "videomme", "test")
    )
    with pytest.raises(NotImplementedError, match="no logits"):
        m.loglikelihood([req])
    m2, _ = _model(LogitEngine())
    # lmms-eval's convention: (loss, greedy), loss the negative log-likelihood (mean per token by
    # default), so its multiple-choice argmin picks the likeliest choice
    assert m2.loglikelihood([req]) == [(0.5, True)]
    choices = [SimpleNamespace(args=("ctx", " " + c if c != "B" else c, lambda doc: [doc["video"]], 0,
                                     "videomme", "test")) for c in "AB"]
    losses = [loss for loss, _ in m2.loglikelihood(choices)]
    assert losses == [3.5, 0.5] and min(range(2), key=losses.__getitem__) == 1
    m3 = LongvidLMM(engine=LogitEngine(), loglikelihood="sum")
    m3.task_dict = m2.task_dict
    assert m3.loglikelihood([req]) == [(1.0, True)]
    with pytest.raises(LongvidError, match="loglikelihood='max'"):
        LongvidLMM(engine=LogitEngine(), loglikelihood="max")


def test_model_args_parsing():
    assert parse_model_args("engine=offline,max_new_tokens=16,flag=true,t=0.5,x=None") == {
        "engine": "offline",
        "max_new_tokens": 16,
        "flag": True,
        "t": 0.5,
        "x": None,
    }
    with pytest.raises(ValueError):
        parse_model_args("engine")
