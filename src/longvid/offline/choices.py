"""Multiple-choice answering: one option letter, chosen from the retrieved evidence.

A benchmark question with options ("A. ... B. ...") is scored on the letter the model names, so
the free-text answerer's output (a sentence, or a refusal paragraph whose stray capitals a letter
extractor reads as answers) is the wrong shape. This module answers such questions with one of
the option letters, or with :data:`NONE_SUPPORTED` when the evidence backs no option.

Design decisions:
- Options are read from the question text itself (lines or runs like ``A. red B. blue``, also
  ``(A)`` and ``A)``): benchmark prompts carry them that way, so callers pass the prompt unchanged.
- Three steps, each able to veto: (1) each option's text is scored against every evidence line
  (share of the option's key words and numbers found there); (2) the LLM picks a letter from the
  evidence and the options; (3) the groundedness check of the free-text answerer is applied to
  the chosen option's text. The LLM's letter is kept when its option is grounded; otherwise the
  best-scoring grounded option; otherwise none. A letter whose option the evidence does not back
  is never returned, however confident the LLM is.
- :data:`NONE_SUPPORTED` is lower case with no capital letter in it, so letter extractors (which
  look for a capital A-E) find no option in it and score it as unanswered, not as a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from longvid.offline.answer import evidence_line, is_grounded, key_terms, pack_evidence
from longvid.types import Evidence

NONE_SUPPORTED = "none of the options is supported by the video"
MAX_LETTER_TOKENS = 4  # the LLM is asked for one letter; a few tokens allow "(B)" or "B."

# An option marker: a capital letter with "." or ")" (or in parentheses) at a line start or after
# whitespace, followed by its text.
_MARKER_RE = re.compile(r"(?:(?<=\s)|^)\(?([A-H])[.)]\s+")


@dataclass(frozen=True)
class Option:
    letter: str
    text: str


@dataclass(frozen=True)
class Choice:
    """The option chosen (None: no option is supported), why, and the evidence it rests on."""

    letter: str | None
    option: Option | None
    scores: dict[str, float]  # letter -> share of the option's key terms in its best evidence line
    llm_letter: str | None
    cited: tuple[Evidence, ...]

    @property
    def text(self) -> str:
        return self.letter if self.letter else NONE_SUPPORTED


def parse_options(prompt: str) -> tuple[str, list[Option]]:
    """(question stem, options A, B, ... in order) from a prompt; no options: (prompt, [])."""
    marks = list(_MARKER_RE.finditer(prompt))
    # keep the first run A, B, C, ... in order (an "A." inside the stem is not an option list)
    run: list[re.Match] = []
    for m in marks:
        want = chr(ord("A") + len(run))
        if m.group(1) == want:
            run.append(m)
        elif m.group(1) == "A":
            run = [m]
    if len(run) < 2:
        return prompt, []
    options = []
    for i, m in enumerate(run):
        end = run[i + 1].start() if i + 1 < len(run) else len(prompt)
        text = prompt[m.end():end]
        if i + 1 == len(run):  # the last option ends at its line (instructions may follow)
            text = text.split("\n", 1)[0]
        options.append(Option(m.group(1), text.strip().rstrip(",;")))
    return prompt[: run[0].start()].strip(), options


def option_score(option: Option, line: str) -> float:
    """Share of the option's key words and numbers found in one evidence line (0 when it has none)."""
    numbers, words = key_terms(option.text)
    terms = numbers | words
    if not terms:
        return 0.0
    hay = line.lower()
    hay_nospace = re.sub(r"\s+", "", hay)
    return sum(t in hay or t in hay_nospace for t in terms) / len(terms)


def read_letter(raw: str, letters: list[str]) -> str | None:
    """The first option letter the LLM's reply names ("B", "(B)", "B. 4172", "The answer is B")."""
    for m in re.finditer(r"(?<![A-Za-z])([A-H])(?![a-z])", raw or ""):
        if m.group(1) in letters:
            return m.group(1)
    return None


def choose(question: str, options: list[Option], evidence: list[Evidence], answerer) -> Choice:
    """The option of ``options`` the ``evidence`` supports, asking ``answerer``'s LLM to decide.

    ``answerer`` is an ``LLMAnswerer`` (its tokenizer packs the evidence, ``generate`` drafts,
    ``grounded_fraction`` is the groundedness threshold)."""
    letters = [o.letter for o in options]
    if not evidence:
        return Choice(None, None, dict.fromkeys(letters, 0.0), None, ())
    packed = pack_evidence(evidence, answerer.tokenizer, answerer.context_tokens)
    lines = [evidence_line(e) for e in packed]
    best_line = {o.letter: max(range(len(lines)), key=lambda i: option_score(o, lines[i])) for o in options}
    scores = {o.letter: option_score(o, lines[best_line[o.letter]]) for o in options}
    hay = "\n".join(lines)
    grounded = [o for o in options if scores[o.letter] > 0 and is_grounded(o.text, hay, answerer.grounded_fraction)]
    listing = "\n".join(f"{o.letter}. {o.text}" for o in options)
    prompt = f"{question}\n{listing}\nAnswer with the letter of the option the evidence supports."
    raw = answerer.generate(prompt, lines, max_new_tokens=MAX_LETTER_TOKENS)
    llm_letter = read_letter(raw, letters)
    by_letter = {o.letter: o for o in grounded}
    if llm_letter in by_letter:
        chosen = by_letter[llm_letter]
    elif grounded:
        chosen = max(grounded, key=lambda o: scores[o.letter])  # ties: the earlier option
    else:
        return Choice(None, None, scores, llm_letter, (packed[0],))
    cited = packed[best_line[chosen.letter]]
    return Choice(chosen.letter, chosen, scores, llm_letter, (cited,))
