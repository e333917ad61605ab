"""Scorers shared by V-NIAH, the benchmarks and the lmms-eval adapter.

Design decisions:
- Three ways to read an answer, as in the published protocols:
  1. teacher-forced exact match (LongVA's "PPL-based" V-NIAH): the answer tokens are appended,
     one forward pass, correct only if the argmax at every answer position is the answer token;
  2. generation with answer matching: the normalised answer must appear in the normalised
     generation as whole words; numbers are compared as numbers ("5,821" == "5821.0");
  3. multiple choice: the option letter is read from the generation ("Best option:(B)",
     "(B)", "B.", "Answer: B", a bare "B"), falling back to a unique option-text match.
     An ambiguous or missing letter is a wrong answer, never a guess.
- Multi-needle scores the share of needles recalled; multi-hop needs the combined answer.
- Pure functions over strings and tensors; torch is imported only by the teacher-forced scorer.
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

LETTERS = string.ascii_uppercase

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
}  # fmt: skip


# ----------------------------------------------------------------------------- normalisation
def normalize_answer(text: str) -> str:
    """Lower case, no punctuation (inside numbers too), no articles, single spaces."""
    text = text.lower()
    # Thousands separators go before punctuation is dropped, so "5,821" stays one number.
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"(?<=\d)\.(?=\d)", "\x00", text)  # decimal points survive the next line
    text = "".join(" " if ch in string.punctuation else ch for ch in text).replace("\x00", ".")
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def extract_numbers(text: str) -> list[float]:
    """Every number written in digits or as a small number word, in order."""
    out: list[float] = []
    for token in re.finditer(r"[-+]?\d[\d,]*(?:\.\d+)?|[a-z]+", text.lower()):
        tok = token.group(0)
        if tok[0].isalpha():
            if tok in _NUMBER_WORDS:
                out.append(float(_NUMBER_WORDS[tok]))
            continue
        try:
            out.append(float(tok.replace(",", "")))
        except ValueError:
            continue
    return out


def _as_number(text: str) -> float | None:
    norm = normalize_answer(text)
    if re.fullmatch(r"[-+]?\d+(?:\.\d+)?", norm):
        return float(norm)
    if norm in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[norm])
    return None


def answer_matches(prediction: str, answer: str) -> bool:
    """True when ``answer`` is said in ``prediction``.

    A numeric answer must appear as a number (so "58" does not match "5821"); any other
    answer must appear as whole words after normalisation. An empty answer never matches.
    """
    target = normalize_answer(answer)
    if not target:
        return False
    number = _as_number(answer)
    if number is not None:
        return any(abs(n - number) < 1e-9 for n in extract_numbers(prediction))
    pred = normalize_answer(prediction)
    return re.search(rf"(?<!\S){re.escape(target)}(?!\S)", pred) is not None


def exact_match(prediction: str, answer: str) -> bool:
    """Normalised strings are equal (numbers compared as numbers)."""
    a, b = _as_number(prediction), _as_number(answer)
    if a is not None and b is not None:
        return a == b
    return normalize_answer(prediction) == normalize_answer(answer) != ""


# ----------------------------------------------------------------------------- multiple choice
def extract_choice_letter(
    text: str, *, num_options: int = 4, options: Sequence[str] | None = None
) -> str | None:
    """The option letter a generation chose, or None when it chose none or several.

    Reads, in order of trust: "Best option:(B" / "best option: B"; "answer is (B)" /
    "Answer: B"; one bracketed "(B)" or "[B]"; a leading "B." / "B)" / "B:" / a lone "B";
    then, if ``options`` are given, the one option whose text appears in the generation.
    A capital "A" used as an article ("A man walks") is never read as option A, and a lower
    case letter counts only where it cannot be a word ("(b)", "b.", "b" alone).
    """
    if not 1 <= num_options <= len(LETTERS):
        raise ValueError(f"num_options must be in 1..{len(LETTERS)}, got {num_options}")
    valid = LETTERS[:num_options]
    s = text.strip()
    if not s:
        return None
    letter = (
        rf"(?:[\(\[]\s*([{valid}{valid.lower()}])\s*[\)\]]?"  # (b) [B] (B
        rf"|([{valid}])(?![A-Za-z'])"  # a capital letter standing alone
        rf"|([{valid.lower()}])(?=[\.\)]|\s*$))"  # b. b) or a final b
    )
    markers = (
        r"best\s+option\s*:?\s*",
        r"(?:answer|option|choice)\s+is\s*:?\s*",
        r"(?:answer|option|choice)\s*:\s*",
    )
    for marker in markers:
        m = re.search(marker + letter, s, flags=re.IGNORECASE if marker == markers[0] else 0) or re.search(
            marker + letter, s, flags=0 if marker == markers[0] else re.IGNORECASE
        )
        if m:
            hit = next(g for g in m.groups() if g)
            # Under IGNORECASE the bare-capital branch also takes "a"/"an": only accept it when
            # it is the letter on its own, not the start of a word.
            if hit.islower() and not re.search(rf"[\(\[]\s*{hit}|{hit}(?:[\.\)]|\s*$)", s[m.start(0) :]):
                continue
            return hit.upper()
    bracketed = {x.upper() for x in re.findall(rf"[\(\[]\s*([{valid}{valid.lower()}])\s*[\)\]]", s)}
    if len(bracketed) == 1:
        return bracketed.pop()
    if len(bracketed) > 1:
        return None
    m = re.match(rf"([{valid}])(?:\s*[\.\):,]|\s*$)", s) or re.match(rf"([{valid.lower()}])(?:[\.\)]|$)", s)
    if m:
        return m.group(1).upper()
    if options:
        hits = {LETTERS[i] for i, opt in enumerate(options[:num_options]) if _option_in(opt, s)}
        if len(hits) == 1:
            return hits.pop()
    return None


def _option_in(option: str, text: str) -> bool:
    opt = re.sub(r"^\s*[A-Z]\s*[\.\):]\s*", "", option)  # "B. a red car" -> "a red car"
    norm = normalize_answer(opt)
    return bool(norm) and re.search(rf"(?<!\S){re.escape(norm)}(?!\S)", normalize_answer(text)) is not None


def format_options(options: Sequence[str]) -> str:
    """ "A. first\\nB. second..." (options that already start with their letter are kept)."""
    lines = []
    for i, opt in enumerate(options):
        opt = str(opt).strip()
        if re.match(rf"^{LETTERS[i]}\s*[\.\):]", opt):
            lines.append(opt)
        else:
            lines.append(f"{LETTERS[i]}. {opt}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- teacher forcing
def teacher_forced_exact_match(logits: torch.Tensor, target_ids: torch.Tensor) -> bool:
    """Correct only if the argmax at every answer position equals the answer token.

    ``logits`` ``(L, V)`` are the scores that predict each of the ``L`` answer tokens
    ``target_ids`` ``(L,)`` (i.e. the model's logits at the positions just before them).
    """
    assert logits.ndim == 2 and target_ids.ndim == 1 and logits.shape[0] == target_ids.shape[0], (
        logits.shape,
        target_ids.shape,
    )
    if target_ids.numel() == 0:
        return False
    return bool((logits.argmax(dim=-1) == target_ids.to(logits.device)).all())


def answer_logits(sequence_logits: torch.Tensor, input_ids: torch.Tensor, answer_len: int):
    """Slice a causal LM's output for a sequence ending with the answer.

    Returns ``(logits, target_ids)`` for ``teacher_forced_exact_match``: the logit at position
    ``t`` predicts token ``t + 1``, so the answer's ``L`` tokens are predicted by positions
    ``T-L-1 .. T-2``.
    """
    t = input_ids.shape[-1]
    assert sequence_logits.shape[-2] == t and 0 < answer_len < t, (sequence_logits.shape, t, answer_len)
    logits = sequence_logits.reshape(t, -1)[t - answer_len - 1 : t - 1]
    return logits, input_ids.reshape(t)[t - answer_len :]


# ----------------------------------------------------------------------------- several needles
@dataclass(frozen=True)
class MultiNeedleScore:
    found: tuple[bool, ...]  # per needle, in order

    @property
    def recall(self) -> float:
        return sum(self.found) / len(self.found) if self.found else 0.0

    @property
    def all_found(self) -> bool:
        return bool(self.found) and all(self.found)


def score_multi_needle(prediction: str, answers: Sequence[str]) -> MultiNeedleScore:
    """Which of several needles' answers the prediction states."""
    return MultiNeedleScore(tuple(answer_matches(prediction, a) for a in answers))


# ----------------------------------------------------------------------------- aggregation
def accuracy_by(records: Iterable[Mapping], key: str, *, correct: str = "correct") -> dict[str, dict]:
    """Accuracy per value of ``key`` (records with an error count as wrong and are tallied)."""
    groups: dict[str, list[Mapping]] = defaultdict(list)
    for r in records:
        groups[str(r.get(key, ""))].append(r)
    out = {}
    for name in sorted(groups):
        rs = groups[name]
        n_ok = sum(bool(r.get(correct)) for r in rs)
        out[name] = {
            "accuracy": n_ok / len(rs),
            "correct": n_ok,
            "total": len(rs),
            "errors": sum(1 for r in rs if r.get("error")),
        }
    return out
