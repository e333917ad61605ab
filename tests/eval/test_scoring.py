"""Scorers on known cases: answer matching, exact match, option letters, teacher forcing, multi-needle."""

import pytest
import torch

from longvid.eval.scoring import (
    accuracy_by,
    answer_logits,
    answer_matches,
    exact_match,
    extract_choice_letter,
    extract_numbers,
    format_options,
    normalize_answer,
    score_multi_needle,
    teacher_forced_exact_match,
)


def test_normalize_keeps_numbers_whole():
    assert normalize_answer("The Vault code: 5,821!") == "vault code 5821"
    assert normalize_answer("It costs 3.50 dollars.") == "it costs 3.50 dollars"


@pytest.mark.parametrize(
    "pred,answer,ok",
    [
        ("The vault code is 5,821.", "5821", True),
        ("code 58210", "5821", False),  # a number must match as a number, not as a substring
        ("There are three apples", "3", True),
        ("It was a red car.", "red car", True),
        ("redcar", "red car", False),
        ("The colour is Yellow", "yellow", True),
        ("yellowish", "yellow", False),
        ("anything", "", False),
        ("3.5 km", "3.50", True),
    ],
)
def test_answer_matches(pred, answer, ok):
    assert answer_matches(pred, answer) is ok


def test_exact_match_and_numbers():
    assert exact_match("  Yellow. ", "yellow")
    assert not exact_match("yellow car", "yellow")
    assert exact_match("3.50", "3.5")
    assert extract_numbers("two cats and 1,200 dogs, 3.5 kg") == [2.0, 1200.0, 3.5]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Best option:(B) the red car", "B"),
        ("best option: c", "C"),
        ("Best option: (D", "D"),
        ("B", "B"),
        ("B.", "B"),
        ("(C)", "C"),
        ("C: the dog", "C"),
        ("The answer is D.", "D"),
        ("Answer: (A)", "A"),
        ("answer: b", "B"),
        ("I think (c) is right", "C"),
        ("Options A and B are wrong, the answer is C", "C"),
        ("b)", "B"),
        ("A man is walking", None),  # "A" as an article is not option A
        ("The answer is a red car", None),  # lower-case "a" inside words is not option A
        ("(A) or (B)", None),  # two bracketed letters: ambiguous
        ("", None),
        ("E", None),  # out of range for four options
        ("   ", None),
    ],
)
def test_extract_choice_letter(text, expected):
    assert extract_choice_letter(text, num_options=4) == expected


def test_extract_choice_letter_by_option_text_and_range():
    options = ["A cat", "A man is walking a dog", "Nothing", "A car"]
    assert extract_choice_letter("A man is walking a dog", options=options) == "B"
    assert extract_choice_letter("E", num_options=5) == "E"
    with pytest.raises(ValueError):
        extract_choice_letter("A", num_options=0)


def test_format_options_keeps_existing_letters():
    assert format_options(["red", "blue"]) == "A. red\nB. blue"
    assert format_options(["A. red", "B. blue"]) == "A. red\nB. blue"


def test_teacher_forced_exact_match():
    target = torch.tensor([3, 1, 4])
    logits = torch.full((3, 6), -1.0)
    logits[torch.arange(3), target] = 2.0
    assert teacher_forced_exact_match(logits, target)
    logits[1, 5] = 3.0  # one position's argmax differs: the whole answer is wrong
    assert not teacher_forced_exact_match(logits, target)
    assert not teacher_forced_exact_match(torch.zeros(0, 6), torch.zeros(0, dtype=torch.long))


def test_answer_logits_slices_the_positions_that_predict_the_answer():
    ids = torch.tensor([[7, 8, 9, 3, 1]])  # answer = last two tokens (3, 1)
    seq_logits = torch.zeros(1, 5, 10)
    seq_logits[0, 2, 3] = 5.0  # position 2 predicts token 3
    seq_logits[0, 3, 1] = 5.0  # position 3 predicts token 1
    logits, target = answer_logits(seq_logits, ids, 2)
    assert target.tolist() == [3, 1]
    assert teacher_forced_exact_match(logits, target)
    seq_logits[0, 3, 1] = -5.0
    assert not teacher_forced_exact_match(*answer_logits(seq_logits, ids, 2))


def test_multi_needle_recall():
    s = score_multi_needle("The words were amber and walnut.", ["amber", "walnut", "quartz"])
    assert s.found == (True, True, False)
    assert s.recall == pytest.approx(2 / 3)
    assert not s.all_found
    assert score_multi_needle("amber; walnut", ["amber", "walnut"]).all_found
    assert score_multi_needle("nothing", []).recall == 0.0


def test_accuracy_by_counts_errors_as_wrong():
    recs = [
        {"c": "x", "correct": True},
        {"c": "x", "correct": False, "error": "video not found"},
        {"c": "y", "correct": True},
    ]
    out = accuracy_by(recs, "c")
    assert out["x"] == {"accuracy": 0.5, "correct": 1, "total": 2, "errors": 1}
    assert out["y"]["accuracy"] == 1.0
