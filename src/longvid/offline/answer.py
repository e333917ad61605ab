"""Answer a question from retrieved evidence with a small LLM, and check the answer rests on it.

Design decisions:
- Evidence is packed as ``[m:ss-m:ss] said: "..." | on screen: "..."`` lines, best first, until
  ``context_tokens`` (counted with the LLM's own tokenizer) is reached.
- The system prompt asks for a short answer from the evidence only, citing times; decoding is
  greedy (deterministic) and short (``max_new_tokens``).
- Groundedness: a small model can invent ("the vault code is a code of ethics") with the answer
  in front of it. Every number in the answer must appear in the evidence, and at least
  ``grounded_word_fraction`` of its other key words (in the evidence at the moments the answer
  cites, when it cites any), and that evidence must share key words with the question; otherwise the engine says it could not find
  a grounded answer and shows the best evidence, never the invention.
- The evidence an answer cites is ordered by how many of the answer's key words it contains.
- Visual tags (ImageNet class names from a frame classifier) are never an answer: "pinwheel" or
  "anemone fish" for "when does the cartoon rabbit appear" misleads more than it helps. Evidence
  that holds only tags is kept out of the LLM's prompt; when it is all there is (or it outranks
  every piece of text evidence and no grounded answer was found), the answer says plainly that
  the offline engine cannot see what is shown, names the moments whose labels are close to the
  question's words as places to look (without the labels), and points to a video-LLM
  (``--model``) or a vision server (``--engine openai``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from longvid.types import Evidence

SYSTEM_PROMPT = (
    "You answer questions about a video using only the evidence lines given, each marked with its "
    "time in the video. Answer in one short sentence and cite the time in brackets. "
    "If the evidence does not contain the answer, say: \"The video does not say.\""
)
NOT_FOUND = "The video does not say."
# one worked example: shows the model the expected form (a short answer with its time), so it
# neither echoes whole evidence lines nor answers with a bare timestamp
_EXAMPLE = (
    (
        'Evidence from the video:\n[1:02-1:10] said: "The train to Oslo leaves at nine."\n'
        '[3:00-3:05] on screen: "Menu | soup, bread"\n\nQuestion: When does the train leave?'
    ),
    "The train leaves at nine [1:02].",
)

STOPWORDS = frozenset({
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "of", "to", "in", "on", "at",
    "by", "for", "with", "from", "and", "or", "but", "not", "no", "this", "that", "these", "those",
    "it", "its", "it's", "as", "into", "about", "than", "then", "there", "their", "they", "them", "he",
    "she", "his", "her", "you", "your", "we", "our", "i", "me", "my", "what", "which", "who", "whom",
    "when", "where", "why", "how", "does", "do", "did", "done", "has", "have", "had", "can", "could",
    "should", "would", "will", "shall", "may", "might", "must", "say", "says", "said", "video",
    "evidence", "answer", "time", "times", "shown", "screen", "on-screen", "text", "speaker",
    "mentioned", "appears", "appear", "over", "under", "after", "before", "some", "any", "all", "just",
    "also", "very", "much", "many", "more", "most", "here"
})
_TIME_RE = re.compile(r"\[?\d{1,2}:\d{2}(?::\d{2})?(?:\s*-\s*\d{1,2}:\d{2}(?::\d{2})?)?\]?")


def evidence_line(ev: Evidence) -> str:
    parts = []
    # quoting keeps the model from blending a line's label into its content
    if ev.transcript:
        parts.append(f'said: "{ev.transcript}"')
    if ev.on_screen_text:
        parts.append(f'on screen: "{ev.on_screen_text}"')
    if ev.tags and not parts:
        parts.append(f"looks like: {', '.join(ev.tags)}")
    return f"{ev.moment.label()} " + " | ".join(parts)


CANNOT_SEE = (
    "The offline engine cannot see what is shown in the video: it reads speech, subtitles and "
    "on-screen text, and its image labels are too rough to answer this. To ask about what is shown, "
    "use a video-LLM (--model ID_OR_DIR) or a vision-capable server (--engine openai)."
)


def tags_only(ev: Evidence) -> bool:
    """Evidence that holds nothing but visual tags (no speech, subtitle or on-screen text)."""
    return not ev.transcript and not ev.on_screen_text


def cannot_see(evidence: list[Evidence], timings: dict[str, float] | None = None) -> Drafted:
    """The answer for a question only visual tags bear on: what the engine cannot do, where to look."""
    leads = [e for e in evidence if tags_only(e) and e.extra.get("matched_tags")][:3]
    text = CANNOT_SEE
    if leads:
        words = list(dict.fromkeys(w for e in leads for _, w, _ in e.extra["matched_tags"]))
        where = ", ".join(e.moment.label() for e in leads)
        text += (f" Moments worth watching, where the image labels are close to "
                 f"{', '.join(repr(w) for w in words)}: {where}.")
    return Drafted(text, False, tuple(leads), dict(timings or {}))


def pack_evidence(evidence: list[Evidence], tokenizer, budget_tokens: int) -> list[Evidence]:
    """The best evidence that fits ``budget_tokens``, best first (a small model leans on what it
    reads first)."""
    chosen, used = [], 0
    for ev in evidence:
        n = len(tokenizer(evidence_line(ev))["input_ids"]) + 1
        if used + n > budget_tokens:
            continue
        chosen.append(ev)
        used += n
    return chosen


def key_terms(text: str) -> tuple[set[str], set[str]]:
    """(numbers, other key words) of an answer, timestamps removed."""
    text = _TIME_RE.sub(" ", text.lower())
    numbers = set(re.findall(r"\d+(?:[.,]\d+)?", text))
    words = {w for w in re.findall(r"[a-z][a-z\-']+", text) if w not in STOPWORDS and len(w) > 2}
    return numbers, words


def _in(word: str, haystack: str) -> bool:
    # tolerate plural/possessive endings ("slides" vs "slide")
    return word in haystack or word.rstrip("s") in haystack or word.rstrip("'s") in haystack


def is_grounded(answer: str, evidence_text: str, min_fraction: float) -> bool:
    hay = evidence_text.lower()
    hay_nospace = re.sub(r"\s+", "", hay)
    numbers, words = key_terms(answer)
    if any(n not in hay and n not in hay_nospace for n in numbers):
        return False
    if not words:
        return bool(numbers)
    present = sum(_in(w, hay) or _in(w, hay_nospace) for w in words)
    return present / len(words) >= min_fraction


def cited_times(answer: str) -> list[float]:
    """Every m:ss / h:mm:ss time the answer mentions, in seconds."""
    out = []
    for m in re.finditer(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?", answer):
        a, b, c = m.groups()
        out.append(int(a) * 3600 + int(b) * 60 + int(c) if c else int(a) * 60 + int(b))
    return out


def _cites(answer: str, ev: Evidence) -> bool:
    return any(ev.moment.start_s - 1 <= t <= ev.moment.end_s + 1 for t in cited_times(answer))


def relevance(question: str, text: str) -> float:
    """Share of the question's key words (or their first 5 letters: "flew"/"flying") found in ``text``."""
    numbers, words = key_terms(question)
    terms = numbers | words
    if not terms:
        return 0.0
    hay = text.lower()
    return sum(t in hay or (len(t) > 5 and t[:5] in hay) for t in terms) / len(terms)


def support(answer: str, ev: Evidence) -> int:
    numbers, words = key_terms(answer)
    hay = evidence_line(ev).lower()
    return sum(t in hay for t in numbers | words) + (2 if _cites(answer, ev) else 0)


@dataclass(frozen=True)
class Drafted:
    """What the answerer concluded: the text to show, whether it rests on the evidence, and which."""

    text: str
    grounded: bool
    cited: tuple[Evidence, ...]  # the evidence the text rests on (or the best evidence shown instead)
    timings_s: dict[str, float] = field(default_factory=dict)  # e.g. {"generate_s": ...}


class LLMAnswerer:
    def __init__(self, model, tokenizer, *, max_new_tokens: int, context_tokens: int, grounded_fraction: float):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens = max_new_tokens
        self.context_tokens = context_tokens
        self.grounded_fraction = grounded_fraction

    def generate(self, question: str, lines: list[str], max_new_tokens: int | None = None) -> str:
        import torch

        msgs = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": _EXAMPLE[0]},
            {"role": "assistant", "content": _EXAMPLE[1]},
            {
                "role": "user",
                "content": "Evidence from the video:\n" + "\n".join(lines)
                + f"\n\nQuestion: {question}",
            },
        ]
        ids = self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            out = self.model.generate(
                **ids, max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=False, pad_token_id=self.tokenizer.eos_token_id
            )
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()

    def answer(self, question: str, evidence: list[Evidence], max_new_tokens: int | None = None) -> Drafted:
        """The answer to ``question`` from ``evidence`` (best first), checked against it.

        The model's answer is kept when its key words/numbers are in the evidence and the
        evidence it rests on shares key words with the question. Otherwise, when the best
        evidence itself matches the question (half its key words), that evidence is the answer,
        quoted as it is; else the answer says nothing grounded was found and shows it.
        """
        if not evidence:
            return Drafted("Nothing in the video matches this question.", False, ())
        textual = [e for e in evidence if not tags_only(e)]
        if not textual:  # only tags bear on it: no model call, no tag as an answer
            return cannot_see(evidence)
        packed = pack_evidence(textual, self.tokenizer, self.context_tokens)
        t0 = time.perf_counter()
        raw = self.generate(question, [evidence_line(e) for e in packed], max_new_tokens)
        timings = {"generate_s": time.perf_counter() - t0}
        hay = "\n".join(evidence_line(e) for e in packed)
        declined = not raw or raw.strip().rstrip(".").lower() == NOT_FOUND.rstrip(".").lower()
        if not declined:
            numbers, words = key_terms(raw)
            bare_time = not numbers and not words
            # words repeated from the question are not claims ("the slide titled 'Results' appears
            # at [2:59]"): such an answer stands on the moment it cites, like a bare time
            q_numbers, q_words = key_terms(question)
            time_only = not (numbers - q_numbers) and not (words - q_words)
            cited = sorted(packed, key=lambda e: -support(raw, e))
            cited = [e for e in cited if support(raw, e) > 0]
            # an answer that names moments must rest on what is at those moments, not on words
            # gathered from anywhere in the evidence ("the vault code is pineapple")
            at_times = [e for e in packed if _cites(raw, e)]
            basis = "\n".join(evidence_line(e) for e in at_times) if at_times else hay
            grounded = bool(cited) and (
                (time_only and bool(at_times)) or is_grounded(raw, basis, self.grounded_fraction)
            )
            # the evidence the answer rests on must be about the question (not the only line that
            # happened to be retrieved for "what is the capital of France?")
            basis_evidence = at_times or cited[:2]
            if grounded and relevance(question, " ".join(evidence_line(e) for e in basis_evidence)) > 0:
                # the moment holding most of the cited times first ([2:59-3:10] over [2:49-2:59])
                times = cited_times(raw)
                at_times.sort(key=lambda e: -sum(round(e.moment.start_s) <= t <= round(e.moment.end_s) for t in times))
                cited = at_times + [e for e in cited if e not in at_times]
                if bare_time:  # a bare time: say what is there
                    raw = f"{raw} {evidence_line(cited[0])}"
                return Drafted(raw, True, tuple(cited), timings)
        best = textual[0]
        if relevance(question, evidence_line(best)) >= 0.5:
            return Drafted(f"Best matching moment: {evidence_line(best)}", True, (best,), timings)
        if tags_only(evidence[0]):  # the best match is a look, not a line: say so, do not quote tags
            return cannot_see(evidence, timings)
        draft = "" if declined else f" (the model's draft, {raw!r}, is not supported by the evidence)"
        text = f"No answer grounded in the video was found{draft}. Best evidence: {evidence_line(best)}"
        return Drafted(text, False, (best,), timings)
