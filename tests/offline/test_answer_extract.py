"""Offline answers that answer: a sentence with the answer and its time, or a plain "not found".

A small generated question set with known truth (spoken facts, on-screen codes and names,
when-questions, questions the video does not answer), answered from evidence records built here
(no video, no LLM: extraction alone must answer these). Quoting evidence instead of answering
counts as a failure.
"""

from __future__ import annotations

import random

import pytest

from longvid.offline import extract
from longvid.offline.answer import LLMAnswerer
from longvid.types import Evidence, Moment

FILLER = (
    ("This part of the talk reviews the general background of the topic.", "Section 2 | general notes, part 2"),
    ("Let us take a short look at the overall structure of the work.", "File | Edit | View | 12:03"),
    ("Several people contributed to this section over the last months.", ""),
)


class WordTokenizer:
    def __call__(self, text):
        return {"input_ids": text.split()}


class Declines(LLMAnswerer):
    """The answerer whose LLM always declines: what extraction answers alone."""

    def generate(self, question, lines, max_new_tokens=None):
        return "The video does not say."


def answerer(cls=Declines, model=None):
    return cls(model, WordTokenizer(), max_new_tokens=32, context_tokens=512, grounded_fraction=0.75)


def ev(t: float, said: str = "", shown: str = "") -> Evidence:
    return Evidence(Moment(t, t + 10.0), said, shown)


def generated(seed: int):
    """(question, evidence best first, the answer's words or None, the answer's time)."""
    rng = random.Random(seed)
    city = rng.choice(["Vienna", "Lisbon", "Dublin", "Prague"])
    n = rng.randint(3, 90)
    colour = rng.choice(["green", "yellow", "purple"])
    code = str(rng.randint(1000, 9999))
    name = rng.choice(["Laura Weber", "Peter Novak", "Anna Costa"])
    t = [round(rng.uniform(30, 3000)) for _ in range(7)]
    fill = [ev(rng.uniform(0, 3000), s, o) for s, o in FILLER]
    return [
        ("Where will the workshop take place?", [fill[0], ev(t[0], f"The workshop will take place in {city}.")], city, t[0]),
        ("How many lamps are in the office?", [ev(t[1], f"There are {n} lamps in the office."), fill[1]], str(n), t[1]),
        ("What colour is the boat?", [fill[2], ev(t[2], f"The boat outside the station is {colour}.")], colour, t[2]),
        ("What is the locker code?", [ev(t[3], "", f"File | Edit | Locker code {code} | please keep this safe")], code, t[3]),
        ("Who is the presenter?", [fill[1], ev(t[4], "", f"Presenter: {name} | thank you for coming")], name, t[4]),
        ("When is the copper lantern mentioned?", [fill[0], ev(t[5], "Here you can see the copper lantern we found.")], None, t[5]),
        ("What fell behind the ladder?", [ev(t[6], "The violin fell behind the ladder."), fill[2]], "violin", t[6]),
        ("Who is the treasurer?", fill, None, None),
        ("What is the ferry number?", fill, None, None),
    ]


def stamp(t: float) -> str:
    s = int(round(t))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_questions_get_a_sentence_with_answer_and_time_or_a_plain_not_found(seed):
    a = answerer()
    for question, evidence, truth, t in generated(seed):
        drafted = a.answer(question, evidence)
        text = drafted.text
        assert "Best matching moment" not in text and 'said: "' not in text and 'on screen: "' not in text, text
        if t is None:  # not in the video: says so, quotes nothing
            assert not drafted.grounded and "could not find" in text, text
            assert all(s not in text and (not o or o not in text) for s, o in FILLER), text
            continue
        assert drafted.grounded, (question, text)
        assert stamp(t) in text, (question, text)  # cites its moment
        if truth:
            assert truth.lower() in text.lower(), (question, text)
        assert len(text.split()) <= 25, text  # a short sentence, not a block


def test_expected_kinds():
    assert extract.expected_kind("How many chairs are in the hall?") == "number"
    assert extract.expected_kind("What is the vault code?") == "number"
    assert extract.expected_kind("Who is the presenter?") == "name"
    assert extract.expected_kind("Where will the meeting be held?") == "place"
    assert extract.expected_kind("When does the train leave?") == "time"
    assert extract.expected_kind("What colour is the car?") == "colour"
    assert extract.expected_kind("What flew over the castle?") == "thing"


def test_answer_must_address_the_question_not_share_words_with_the_evidence():
    evidence = [ev(600, "", "File | Edit | View | Vault code 5821 | Help | Settings")]
    q = "What is the vault code?"
    assert extract.addresses(q, "The vault code is 5821 [10:00].", evidence)
    # every word of these is in the evidence, and neither answers the question
    assert not extract.addresses(q, "File Edit View Help Settings [10:00].", evidence)
    assert not extract.addresses(q, "The vault code [10:00].", evidence)  # the question echoed back


def test_the_llm_draft_is_dropped_when_it_does_not_address_the_question():
    evidence = [ev(100, "", "Options | Save | Open the ferry menu | Help")]

    class UIEcho(LLMAnswerer):
        def generate(self, question, lines, max_new_tokens=None):
            return "Options Save Open the ferry menu Help [1:40]."

    drafted = answerer(UIEcho, model=object()).answer("What is the ferry number?", evidence)
    assert not drafted.grounded and "could not find" in drafted.text
    assert "Options" not in drafted.text


def test_the_llm_drafts_when_extraction_is_unsure_and_a_grounded_addressing_draft_is_kept():
    # the ferry line holds the question's words but no number, so no span is confident;
    # the draft names a number from a relevant line
    evidence = [ev(100, "The ferry leaves from pier seven, the ferry is number 31 today.")]

    class Drafts(LLMAnswerer):
        calls = 0

        def generate(self, question, lines, max_new_tokens=None):
            Drafts.calls += 1
            return "The ferry number is 31 [1:40]."

    a = answerer(Drafts, model=object())
    a.min_span_score = 2.0  # force the LLM path: no span is ever confident enough
    drafted = a.answer("What is the ferry number?", evidence)
    assert Drafts.calls == 1 and drafted.grounded and "31" in drafted.text


def test_an_answer_by_extraction_never_loads_the_llm():
    loads = []
    a = Declines(None, None, max_new_tokens=8, context_tokens=64, grounded_fraction=0.75,
                    loader=lambda: loads.append(1) or (None, WordTokenizer()))
    drafted = a.answer("What is the vault code?", [ev(5, "", "Vault code 4417")])
    assert "4417" in drafted.text and not loads


def test_a_line_about_another_thing_of_the_same_kind_does_not_answer():
    """Only the subject's words identify what is asked about: sharing the answer-type word
    ("code", "name") or one of two subject words is not enough."""
    vault = ev(1100, "", "Vault code 7443")
    drafted = answerer().answer("What is the safe code?", [vault])
    assert not drafted.grounded and "7443" not in drafted.text, drafted.text
    # two boxes side by side are two texts: "keep this safe" beside the vault code does not make
    # it the safe code when a line of its own says so
    ui = [ev(1100, "", "Vault code 7443 | please keep this safe"), ev(247, "", "Safe code 9991 | please keep this safe")]
    drafted = answerer().answer("What is the safe code?", ui)
    assert "9991" in drafted.text and "4:07" in drafted.text, drafted.text
    drafted = answerer().answer("What is the name of the cat?", [ev(430, "The name of the new driver is Thomas.")])
    assert not drafted.grounded and "Thomas" not in drafted.text, drafted.text
    mirror = ev(290, "", "The velvet mirror")
    teapot = ev(197, "Here you can see the velvet teapot we found last year.")
    drafted = answerer().answer("When is the velvet teapot mentioned?", [mirror, teapot])
    assert "3:17" in drafted.text and "4:50" not in drafted.text, drafted.text
    drafted = answerer().answer("What fell behind the window?", [ev(435, "The violin fell behind the castle.")])
    assert not drafted.grounded and "violin" not in drafted.text, drafted.text
    drafted = answerer().answer("When is the marble lantern mentioned?", [ev(799, "", "The copper lantern")])
    assert not drafted.grounded, drafted.text
    # the type word may be missing from the answer's line; the subject may not
    drafted = answerer().answer("What colour is the van?", [ev(60, "The van outside the station is green.")])
    assert drafted.grounded and "green" in drafted.text, drafted.text
    # a long subject may miss one of its words ("plan")
    said = ev(300, "The budget for next year is four million euros.")
    assert extract.unit_relevance(extract.question_terms("How much is the budget for next year's plan?"), said.transcript) > 0


def test_ocr_digit_for_letter_confusions_count_as_the_question_s_words():
    drafted = answerer().answer("What is the flight code?", [ev(506, "", "Flight c0de 9330")])
    assert "9330" in drafted.text and "c0de" not in drafted.text, drafted.text
    # a real code mixing letters and digits is still an answer
    drafted = answerer().answer("What is the seat number?", [ev(127, "", "Seat number PC-549")])
    assert "PC-549" in drafted.text, drafted.text


def test_words_about_how_the_video_carries_it_are_not_the_subject():
    drafted = answerer().answer("What password is spoken in the video?", [ev(225, "The password is tiger.")])
    assert drafted.grounded and "tiger" in drafted.text and "3:45" in drafted.text, drafted.text
    drafted = answerer().answer("What is the secret word shown on screen?", [ev(600, "", "The secret word is | PLANET")])
    assert drafted.grounded and "PLANET" in drafted.text, drafted.text


def test_the_demo_questions_are_answered():
    """The questions of ``longvid demo`` over evidence like its talk's: what was said about a
    topic is reported, a slide's title finds that slide, and inflected words match."""
    agenda = ev(40, "So now we convert the margin for results and the next steps.", "Agenda | budget, results, next steps")
    budget = ev(98, "The budget for next year is $12 million, mostly for new hardware.", "Budget | twelve million dollars for next year")
    results = ev(158, "Our results improved.", "Results | accuracy rose to 91 percent")
    friday = ev(278, "On Friday we meet in the large room to plan the launch.", "Next steps | meet in room B14 on Friday")
    evidence = [agenda, budget, results, friday]
    a = answerer()
    text = a.answer("What does the speaker say about the budget?", evidence).text
    assert text.startswith("The speaker says the budget for next year is $12 million") and "1:38" in text, text
    text = a.answer("When does the slide titled 'Results' appear?", evidence).text
    assert "2:38" in text and "0:40" not in text, text
    drafted = a.answer("Where is the meeting on Friday?", evidence)
    assert drafted.grounded and "B14" in drafted.text, drafted.text
    assert extract.asks_what_is_said("What did the guest say about the weather?")
    assert not extract.asks_what_is_said("What is the budget for next year?")
