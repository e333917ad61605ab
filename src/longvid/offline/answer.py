"""Answer a question from retrieved evidence with a small LLM, and check the answer rests on it.

Design decisions:
- The answer is chosen before it is phrased: ``longvid.offline.extract`` picks the span of the
  evidence that answers the question (by the kind of answer the question asks for and by the
  evidence line that is about it) and phrases it as one sentence with its time. A 0.5B model,
  asked directly, echoed evidence lines or drifted to unrelated on-screen text; extraction is
  also instant and needs no model load.
- The LLM drafts only when extraction is unsure (a question answered by extraction never loads
  it). Its
  draft must be grounded (every number in the answer appears in the evidence, and at least
  ``grounded_word_fraction`` of its other key words) *and* address the question (hold a span of
  the expected kind from the evidence that is not the question's own words); otherwise it is
  dropped. Sharing words with the evidence is not enough: a block of UI text shares them too.
- When nothing answers the question the reply says so plainly and names the moments it
  searched; it never quotes an evidence block as if it were an answer.
- Evidence is packed for the LLM as ``[m:ss-m:ss] said: "..." | on screen: "..."`` lines, best
  first, until ``context_tokens`` (counted with the LLM's own tokenizer) is reached; the prompt
  has two worked examples and decoding is greedy, one line.
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
from dataclasses import dataclass, field, replace

from longvid.offline import extract
from longvid.offline.config import QueryConfig
from longvid.types import Evidence, cited_times

SYSTEM_PROMPT = (
    "You answer questions about a video using only the evidence lines given, each marked with its "
    "time in the video. Answer in one short sentence and cite the time in brackets. "
    "If the evidence does not contain the answer, say: \"The video does not say.\""
)
NOT_FOUND = "The video does not say."
# worked examples: evidence first, the question last, a one-line answer that names the answer and
# its time; the second shows an answer taken from on-screen text among unrelated UI labels
_EXAMPLES = (
    (
        'Evidence from the video:\n[1:02-1:10] said: "The train to Oslo leaves at nine."\n'
        '[3:00-3:05] on screen: "Menu | soup, bread"\n\nQuestion: When does the train leave?',
        "The train leaves at nine [1:02].",
    ),
    (
        'Evidence from the video:\n[7:40-7:50] on screen: "File | Edit | Room number 318 | 12:03"\n\n'
        "Question: What is the room number?",
        "The room number is 318 [7:40].",
    ),
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


def not_found(question: str, evidence: list[Evidence]) -> str:
    """A plain "could not find it", naming what was searched; never a quoted block."""
    looked = ", ".join(e.moment.label() for e in evidence[:3])
    what = f" The closest moments it searched ({looked}) do not answer it." if looked else ""
    return (f"I could not find the answer to this in the video's speech, subtitles or on-screen text."
            f"{what}")


class LLMAnswerer:
    """Extract first, then (only when extraction is unsure) let the LLM draft, verified.

    ``model``/``tokenizer`` may be None with a ``loader`` returning them: the LLM is then loaded
    on the first question that needs it, and a question answered by extraction never loads it.
    """

    def __init__(self, model, tokenizer, *, max_new_tokens: int, context_tokens: int, grounded_fraction: float,
                 min_span_score: float = QueryConfig.answer_min_span_score, loader=None):
        self._model, self._tokenizer, self._loader = model, tokenizer, loader
        self.max_new_tokens = max_new_tokens
        self.context_tokens = context_tokens
        self.grounded_fraction = grounded_fraction
        self.min_span_score = min_span_score

    def _load(self) -> None:
        if self._model is None and self._loader is not None:
            self._model, self._tokenizer = self._loader()

    @property
    def model(self):
        self._load()
        return self._model

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._load()
        return self._tokenizer

    def generate(self, question: str, lines: list[str], max_new_tokens: int | None = None) -> str:
        import torch

        msgs = [{"role": "system", "content": SYSTEM_PROMPT}]
        for user, reply in _EXAMPLES:
            msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        msgs.append({
            "role": "user",
            "content": "Evidence from the video:\n" + "\n".join(lines) + f"\n\nQuestion: {question}",
        })
        tok, model = self.tokenizer, self.model
        ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            out = model.generate(
                **ids, max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=False, pad_token_id=tok.eos_token_id
            )
        text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        return text.split("\n", 1)[0].strip()  # one line: a small model tends to continue with more

    def answer(self, question: str, evidence: list[Evidence], max_new_tokens: int | None = None) -> Drafted:
        """The answer to ``question`` from ``evidence`` (best first).

        1. A "when does X appear / get mentioned" question: the first moment that is about X.
        2. The best extracted span (``longvid.offline.extract``), phrased as a sentence with its time.
        3. When extraction is unsure: the LLM drafts from the text evidence (relevant lines first);
           the draft is kept only if it is grounded and addresses the question (holds a span of
           the expected kind from a relevant line, not the question's own words).
        4. Otherwise: it says plainly that it could not find the answer and where it looked.
        """
        if not evidence:
            return Drafted(not_found(question, []), False, ())
        textual = [e for e in evidence if not tags_only(e)]
        if not textual:  # only tags bear on it: no model call, no tag as an answer
            return cannot_see(evidence)
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        if extract.asks_for_moment(question):
            found = extract.moment_answer(question, textual)
            if found:
                timings["extract_s"] = time.perf_counter() - t0
                return Drafted(found[0], True, (found[1],), timings)
        if extract.asks_what_is_said(question):
            found = extract.said_answer(question, textual)
            if found:
                timings["extract_s"] = time.perf_counter() - t0
                return Drafted(found[0], True, (found[1],), timings)
        spans = extract.candidate_spans(question, textual)
        timings["extract_s"] = time.perf_counter() - t0
        if spans and spans[0].score >= self.min_span_score:
            best = extract.focused(spans[0])
            # the moments the answer rests on: the span's own lines, then other evidence showing it
            also = [e for e in textual if e is not spans[0].evidence and best.text in f"{e.transcript} {e.on_screen_text}"]
            moments = list({(e.moment.start_s, e.moment.end_s): e for e in
                            (best.evidence, *(extract.focused(replace(best, evidence=e)).evidence for e in also))}.values())
            return Drafted(extract.phrase(question, best), True, tuple(moments[:3]), timings)
        # the LLM sees the relevant evidence first, then the rest of the text evidence (it may
        # bridge a paraphrase the word match misses), but its draft must still hold a span of a
        # relevant unit: an answer taken from a line that is not about the question is dropped
        relevant = list({id(ev): ev for _, ev, _ in extract.relevant_units(question, textual)}.values())
        ordered = relevant + [e for e in textual if all(e is not r for r in relevant)]
        if self._model is None:  # loaded for this question
            t1 = time.perf_counter()
            self._load()
            timings["llm_load_s"] = time.perf_counter() - t1
        packed = pack_evidence(ordered, self.tokenizer, self.context_tokens)
        t1 = time.perf_counter()
        raw = self.generate(question, [evidence_line(e) for e in packed], max_new_tokens)
        timings["generate_s"] = time.perf_counter() - t1
        hay = "\n".join(evidence_line(e) for e in packed)
        declined = not raw or raw.strip().rstrip(".").lower() == NOT_FOUND.rstrip(".").lower()
        if not declined and is_grounded(raw, hay, self.grounded_fraction) and extract.addresses(question, raw, packed):
            cited = sorted(packed, key=lambda e: -support(raw, e))
            if not cited_times(raw):
                raw = f"{raw.rstrip('.')} {cited[0].moment.label()}."
            return Drafted(raw, True, tuple(cited), timings)
        if tags_only(evidence[0]):  # the best match is a look, not a line: say so, do not quote tags
            return cannot_see(evidence, timings)
        return Drafted(not_found(question, textual), False, tuple(textual[:3]), timings)
