"""Multiple choice: one option letter chosen from the evidence, or a sentence no letter extractor reads."""

import re

from longvid.eval.lmms_adapter import LongvidChatLMM, LongvidLMM
from longvid.offline.choices import NONE_SUPPORTED, Option, choose, parse_options, read_letter
from longvid.types import Answer, Evidence, Moment

PROMPT = (
    "Select the best answer. Which code is shown on the whiteboard?\n"
    "A. 1234\nB. 4172\nC. 9981\nD. 5550\nAnswer with the option's letter from the given choices directly."
)


class Tok:
    """Counts one token per word (enough for packing the evidence into a budget)."""

    def __call__(self, text, **kw):
        return {"input_ids": text.split()}

    def encode(self, text, **kw):
        return text.split()


class ScriptedLLM:
    """An answerer whose LLM replies with a fixed text; records the prompts it was given."""

    def __init__(self, reply):
        self.reply, self.prompts = reply, []
        self.tokenizer, self.context_tokens, self.grounded_fraction = Tok(), 1024, 0.75

    def generate(self, question, lines, max_new_tokens=None):
        self.prompts.append((question, lines, max_new_tokens))
        return self.reply


def ev(t, screen="", said=""):
    return Evidence(Moment(t, t + 2), transcript=said, on_screen_text=screen)


EVIDENCE = [ev(10, screen="the code is 4172"), ev(30, said="we wrote a new code on the whiteboard")]


def test_options_are_read_from_the_prompt():
    stem, opts = parse_options(PROMPT)
    assert stem == "Select the best answer. Which code is shown on the whiteboard?"
    assert [(o.letter, o.text) for o in opts] == [("A", "1234"), ("B", "4172"), ("C", "9981"), ("D", "5550")]
    stem, opts = parse_options("Which? (A) red fox (B) blue jay (C) a cat")
    assert [o.text for o in opts] == ["red fox", "blue jay", "a cat"] and stem == "Which?"
    assert parse_options("What does the speaker say about plan A. and costs?")[1] == []


def test_read_letter():
    assert read_letter("B. 4172", ["A", "B"]) == "B"
    assert read_letter("(C)", ["A", "B", "C"]) == "C"
    assert read_letter("The answer is D", ["A", "D"]) == "D"
    assert read_letter("Nothing", ["A", "B"]) is None


def test_the_llms_letter_is_kept_when_its_option_is_grounded():
    llm = ScriptedLLM("B. 4172")
    c = choose("Which code is shown?", parse_options(PROMPT)[1], EVIDENCE, llm)
    assert c.text == "B" and c.cited[0].moment.start_s == 10
    assert llm.prompts[0][2] is not None and llm.prompts[0][2] <= 4  # a letter, not a paragraph


def test_an_unsupported_letter_is_replaced_by_the_grounded_option():
    c = choose("Which code is shown?", parse_options(PROMPT)[1], EVIDENCE, ScriptedLLM("A"))
    assert c.llm_letter == "A" and c.text == "B" and c.scores["B"] == 1.0 and c.scores["A"] == 0.0


def test_none_supported_has_no_letter_an_extractor_could_read():
    opts = [Option("A", "a red fox"), Option("B", "a blue jay")]
    c = choose("Which animal appears?", opts, EVIDENCE, ScriptedLLM("A"))
    assert c.letter is None and c.text == NONE_SUPPORTED
    assert not re.search(r"[A-E]", c.text)  # lmms-eval's extractors look for a capital A-E
    assert choose("Which?", opts, [], ScriptedLLM("A")).text == NONE_SUPPORTED


class ChoosingEngine:
    name = "choosing"

    def __init__(self):
        self.calls = []

    def ask(self, video, question, max_new_tokens=None):
        self.calls.append(("ask", question, max_new_tokens))
        return Answer(question, "The code is 4172, shown at [0:10].\nUser: next", (), True, self.name)

    def choose(self, video, question, options):
        self.calls.append(("choose", question, [o.text for o in options]))
        return Answer(question, "B", (), True, self.name)


def _req(*args):
    return type("Req", (), {"args": args})()


def test_both_model_kinds_route_multiple_choice_and_generation_settings(tmp_path):
    video = str(tmp_path / "v.mp4")
    doc = {"video": video}
    simple, chat = LongvidLMM(engine=ChoosingEngine(), max_new_tokens=16), LongvidChatLMM(engine=ChoosingEngine())
    for m in (simple, chat):
        m.task_dict = {"t": {"test": [doc]}}
    assert not chat.is_simple and simple.is_simple
    gen = {"until": ["\nUser:"], "temperature": 0, "do_sample": False}
    out = simple.generate_until([
        _req(PROMPT, gen, lambda d: [d["video"]], 0, "t", "test"),
        _req("What is the code?", gen, lambda d: [d["video"]], 0, "t", "test"),
    ])
    assert out == ["B", "The code is 4172, shown at [0:10]."]
    assert simple.engine.calls[0][0] == "choose" and simple.engine.calls[1] == ("ask", "What is the code?", 16)

    def messages(d, text):
        return [{"role": "user", "content": [{"type": "video", "url": d["video"]}, {"type": "text", "text": text}]}]

    out = chat.generate_until([
        _req("ctx", lambda d: messages(d, PROMPT), {"max_new_tokens": 8, "until": ["\nUser:"]}, 0, "t", "test"),
        _req("ctx", lambda d: messages(d, "What is the code?"), {"max_new_tokens": 8}, 0, "t", "test"),
    ])
    assert out[0] == "B" and chat.engine.calls[0][2] == ["1234", "4172", "9981", "5550"]
    assert chat.engine.calls[1] == ("ask", "What is the code?", 8)  # the task's setting wins


def test_model_args_errors_say_what_is_accepted():
    import pytest

    from longvid.errors import LongvidError

    with pytest.raises(LongvidError, match="greedily"):
        LongvidLMM(engine=ChoosingEngine(), temperature=0.7)
    with pytest.raises(LongvidError, match="does not take"):
        LongvidLMM.create_from_arg_string("engine=offline,max_new_tokens=16,frobnicate=3")
    m = LongvidLMM.create_from_arg_string("engine=offline,max_new_tokens=16")
    assert m.generation == {"max_new_tokens": 16} and m.engine.name == "offline"
