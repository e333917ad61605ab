"""Extractive answers: pick the span of the evidence that answers a question, then phrase it.

A 0.5B LLM, given the answer in its evidence, still echoes whole lines, answers with a bare time
or drifts to unrelated UI text. Choosing the answer is therefore done here, without a model, and
the LLM (when used at all) only phrases a span that was already chosen.

Design decisions:
- The question's wh-form gives the *expected answer kind*: a number or code ("how many", "what
  is the vault code"), a name ("who"), a place ("where"), a time ("when", "what time"), a colour,
  or any phrase ("what flew over the castle"). A "when" question with no time expression in the
  evidence is answered with the moment itself: in a video, "when" mostly means "at what point".
- Evidence is cut into *units*: transcript sentences and on-screen lines (OCR joins separate text
  boxes with " | "), plus each pair of consecutive on-screen lines (a caption that wraps). A unit
  is relevant when it holds at least half of the question's key words (a 5-letter prefix counts:
  "flew"/"flying"; OCR's letter/digit confusions count: "c0de"/"code") **and** the question's
  subject: every key word that does not just name the answer's type ("colour", "name",
  "number", "city", ...) or counts it ("two"); a subject of four words or more may miss all
  but max(3, half) of them (a long question paraphrases). A
  line about the "vault code" does not answer "what is the safe code?", nor "the velvet mirror"
  "when is the velvet teapot mentioned?". Every other unit is ignored, so the answer always
  comes from a line that is about the question.
- Candidate spans in a relevant unit are the runs of words that are not the question's own words,
  trimmed of stop words at their edges, plus typed tokens (numbers, codes in capitals, capitalised
  names, colour words, time expressions). A span made only of the question's words is never an
  answer (that is the question echoed back). Spans are scored by the unit's relevance, the fit of
  their kind to the expected kind, closeness to the question's words in the unit and brevity; the
  retrieval rank breaks ties.
- The answer is a template sentence around the span with the moment's time ("The vault code is
  5821 [10:00-10:10]."). ``addresses`` is the check any phrasing (template or LLM) must pass: the
  answer holds a span of the expected kind that is in a relevant unit and is not the question's
  own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from longvid.types import Evidence, Moment, cited_times, format_timestamp

Kind = Literal["number", "name", "place", "time", "colour", "thing"]

# words that carry no answer; kept separate from the groundedness stop words, which also drop
# "video"/"screen" and the like
_STOP = frozenset({
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "of", "to", "in", "on", "at",
    "by", "for", "with", "from", "and", "or", "but", "not", "no", "this", "that", "these", "those",
    "it", "its", "as", "into", "about", "than", "then", "there", "their", "they", "them", "he", "she",
    "his", "her", "you", "your", "we", "our", "us", "i", "me", "my", "what", "which", "who", "whom",
    "whose", "when", "where", "why", "how", "does", "do", "did", "has", "have", "had", "can", "could",
    "should", "would", "will", "shall", "may", "might", "must", "so", "very", "just", "also", "now",
    "here", "let", "lets", "let's", "all", "some", "any", "one", "called", "named", "today", "video",
    "say", "says", "said", "tell", "tells", "told", "mention", "mentioned", "mentions", "speaker",
    "shown", "show", "shows", "screen", "written", "appear", "appears", "see", "seen", "read", "talk",
    # how the video carries it, not what it is about ("what password is spoken in the video?")
    "spoken", "speak", "speaks", "speaking", "heard", "hear", "hears", "displayed", "display", "visible",
    "onscreen", "on-screen", "footage", "clip", "slide", "slides", "titled", "headed", "heading",
    "caption", "captioned", "labelled", "labeled",
})
_COLOURS = frozenset({
    "red", "green", "blue", "yellow", "orange", "purple", "violet", "pink", "brown", "black", "white",
    "grey", "gray", "silver", "gold", "golden", "cyan", "magenta", "turquoise", "beige", "crimson",
})
_NUMBER_WORDS = frozenset({
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred",
    "thousand", "million", "dozen",
})
_TIME_WORDS = frozenset({
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "june", "july", "august", "september", "october", "november",
    "december", "noon", "midnight", "morning", "evening", "afternoon", "night", "tonight",
    "tomorrow", "yesterday", "o'clock", "am", "pm", "spring", "summer", "autumn", "winter",
})
# key words that name the kind of answer asked for, not the thing asked about: a unit holding the
# answer need not repeat them ("What colour is the car?" / "The car is black")
_TYPE_WORDS = frozenset({
    "colour", "color", "name", "names", "number", "code", "pin", "price", "cost", "amount", "total",
    "score", "count", "version", "digit", "digits", "figure", "many", "much", "old", "far", "long",
    "time", "day", "date", "year", "month", "city", "country", "town", "place", "village", "person",
    "man", "woman", "take", "happen", "happens", "happened",
})
# what OCR reads for a letter inside a word that also holds letters ("c0de", "v4ult" are rare, "0"
# for "o" and "1" for "l" are not)
_OCR_CONFUSIONS = str.maketrans({"0": "o", "1": "l", "5": "s", "8": "b", "|": "l"})
_PLACE_PREPS = frozenset({"in", "at", "to", "from", "near", "inside"})
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-.:]*[A-Za-z0-9]|[A-Za-z0-9]")
_SENT_RE = re.compile(r"(?<=[.!?])\s+|\s*\|\s*|\n+")
# a question about a point in the video rather than a time the video talks about
_MOMENT_Q = re.compile(
    r"\b(appear|appears|shown|show|shows|mention|mentions|mentioned|say|says|said|talk|talks|"
    r"discuss|discussed|start|starts|begin|begins|come up|comes up|introduced|displayed)\b")


@dataclass(frozen=True)
class Span:
    """A candidate answer: its words, the unit (sentence or on-screen line) and evidence it is from."""

    text: str
    kind: Kind | None  # what it looks like (None: a plain phrase)
    unit: str
    evidence: Evidence
    score: float
    prep: str = ""  # the preposition right before it in the unit ("in" Lisbon), for phrasing


def expected_kind(question: str) -> Kind:
    q = question.lower()
    if re.search(r"\b(colou?r)\b", q):
        return "colour"
    if re.search(r"\bwhen\b|\bwhat (time|day|date|year|month)\b|\bwhich (day|date|year|month)\b|\bhow long ago\b", q):
        return "time"
    if re.search(r"\bhow (many|much|old|far|long|tall|big|often)\b|\b(number|code|pin|price|cost|amount|"
                 r"total|percent|percentage|score|count|version|digits?|figure)\b", q):
        return "number"
    if re.search(r"\bwho(m|se)?\b|\bwhat(?:'s| is| was)? (?:the )?name\b|\bwhich (person|man|woman|author|speaker)\b", q):
        return "name"
    if re.search(r"\bwhere\b|\b(which|what) (city|country|town|place|village|street|island|room|planet)\b", q):
        return "place"
    return "thing"


def _tokens(text: str) -> list[tuple[str, int, int]]:
    out = []
    for m in _TOKEN_RE.finditer(text):
        tok = m.group(0).rstrip(".:")
        out.append((tok, m.start(), m.start() + len(tok)))
    return out


def question_terms(question: str) -> set[str]:
    return {t.lower() for t, _, _ in _tokens(question) if t.lower() not in _STOP and (len(t) > 2 or t.isdigit())}


def _ocr_normal(token: str) -> str:
    """``token`` with OCR's digit-for-letter confusions undone, when it mixes letters and digits."""
    if any(c.isalpha() for c in token) and any(c.isdigit() for c in token):
        return token.translate(_OCR_CONFUSIONS)
    return token


def _stem(word: str) -> str:
    """``word`` without an inflection ending ("meeting" -> "meet", "boxes" -> "box"), when at
    least three letters are left."""
    for end in ("ing", "ed", "es", "s"):
        if word.endswith(end) and len(word) - len(end) >= 3:
            return word[: -len(end)]
    return word


def _matches(token: str, terms: set[str]) -> bool:
    t = _ocr_normal(token.lower()).removesuffix("'s")  # possessives: "year's" is "year"
    for q in terms:
        q = q.removesuffix("'s")
        if t == q or t.rstrip("s") == q.rstrip("s") or (len(q) > 4 and len(t) > 4 and t[:5] == q[:5]):
            return True
        if _stem(t) == _stem(q):  # "meet" / "meeting"
            return True
    return False


def _found(terms: set[str], unit: str) -> set[str]:
    """The key words of ``terms`` that ``unit`` holds (as words, plurals, 5-letter stems, OCR
    confusions, or inside text that lost its spaces)."""
    toks = [t for t, _, _ in _tokens(unit)]
    squashed = _ocr_normal(re.sub(r"\s+", "", unit.lower()))  # OCR that lost its spaces ("VAULTCODE")
    return {q for q in terms if any(_matches(t, {q}) for t in toks) or (len(q) > 3 and q in squashed)}


def _missing_allowed(n: int) -> int:
    """Subject words a relevant unit may miss: none of up to three ("velvet teapot" is not "velvet
    mirror", "fell behind the window" is not "fell behind the castle"), then all but max(3, half)
    of a longer subject (a long question paraphrases)."""
    return 0 if n <= 3 else n - max(3, -(-n // 2))


def unit_relevance(terms: set[str], unit: str) -> float:
    """Share of the question's key words found in ``unit``; 0 when ``unit`` misses the question's
    subject (see the module notes: the key words that do not name the answer's type)."""
    if not terms:
        return 0.0
    found = _found(terms, unit)
    subject = terms - _TYPE_WORDS - _NUMBER_WORDS  # "which two words": "two" counts, it does not name
    if len(subject - found) > _missing_allowed(len(subject)):
        return 0.0
    return len(found) / len(terms)


# a pair of on-screen lines read as one is weighed below a single line: a caption wraps now and
# then, but two neighbouring boxes are mostly two texts ("Vault code 7443" / "keep this safe"
# must not answer "what is the safe code?" over a line "Safe code 9991")
JOINED_LINES_WEIGHT = 0.9


def _single_units(ev: Evidence) -> tuple[list[str], list[str]]:
    said = [u.strip() for u in _SENT_RE.split(ev.transcript or "") if u and u.strip()]
    shown = [u.strip() for u in _SENT_RE.split(ev.on_screen_text or "") if u and u.strip()]
    return said, shown


def units(ev: Evidence) -> list[str]:
    """The sentences said and the lines shown at one piece of evidence, and each pair of
    consecutive on-screen lines read as one (OCR gives a caption that wraps, "The vault code" /
    "is 4711", as two lines)."""
    said, shown = _single_units(ev)
    return said + shown + [f"{a} {b}" for a, b in zip(shown, shown[1:]) if a != b]


def kind_of(span: str) -> Kind | None:
    toks = span.split()
    low = [t.lower().strip(",;") for t in toks]
    if re.search(r"\b\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.|o'clock)\b", span.lower()) or any(w in _TIME_WORDS for w in low):
        return "time"
    if re.fullmatch(r"(1[5-9]|20)\d\d", span.strip()):
        return "time"  # a year
    if any(re.search(r"\d", t) for t in toks) or any(w in _NUMBER_WORDS for w in low):
        return "number"
    if any(len(t) >= 3 and t.isupper() and t.isalpha() for t in toks) and len(toks) <= 2:
        return "number"  # a code in capitals ("PINEAPPLE", "QX7"): what "code"/"password" asks for
    if any(w in _COLOURS for w in low) and len(toks) <= 3:
        return "colour"
    if toks and all(t[:1].isupper() for t in toks):
        return "name"
    return None


def _fit(expected: Kind, got: Kind | None, span: str, code_word: bool = False) -> float:
    if expected == "thing":
        return 1.0 if got != "time" else 0.7
    if got == expected:
        return 1.0
    if expected in ("name", "place") and got == "name":
        return 1.0  # a capitalised phrase is what both ask for
    if expected == "name" and got == "number" and span.isupper():
        return 0.9  # an on-screen name in capitals
    if expected == "place" and got == "number" and span.isupper():
        return 0.9
    if expected == "place" and got is None and len(span.split()) <= 2:
        return 0.6  # "in the garden": a plain noun is a place when a preposition leads to it
    if expected == "number" and got is None and len(span.split()) == 1 and code_word:
        return 0.5  # "what is the code?": a code may be a plain word ("pineapple")
    return 0.0


def _spans_in(unit: str, terms: set[str]) -> list[tuple[str, str, float]]:
    """(span, preposition before it, closeness to the question's words) for one unit."""
    toks = _tokens(unit)
    # a question word glued to its neighbour by OCR ("THECODE") is still the question's word
    matched = [_matches(t, terms) or any(len(q) > 3 and q in t.lower() for q in terms) for t, _, _ in toks]
    hits = [i for i, m in enumerate(matched) if m]
    out: list[tuple[str, str, float]] = []
    i = 0
    while i < len(toks):
        if matched[i]:
            i += 1
            continue
        j = i
        while j < len(toks) and not matched[j]:
            j += 1
        run = list(range(i, j))
        # trim answerless words at the edges ("is pineapple" -> "pineapple")
        while run and toks[run[0]][0].lower() in _STOP:
            run.pop(0)
        while run and toks[run[-1]][0].lower() in _STOP:
            run.pop()
        if run:
            run = run[:6]  # an answer is short; the start of a long run is nearest its question words
            text = unit[toks[run[0]][1]: toks[run[-1]][2]]
            prev = toks[run[0] - 1][0].lower() if run[0] > 0 else ""
            prep = prev if prev in _PLACE_PREPS else ""
            dist = min((min(abs(h - run[0]), abs(h - run[-1])) for h in hits), default=3)
            out.append((text, prep, 1.0 / (1.0 + 0.25 * max(0, dist - 1))))
            # typed single tokens inside a longer run (the "5821" of "code 5821 for room B")
            if len(run) > 1:
                for k in run:
                    tok = toks[k][0]
                    if kind_of(tok) in ("number", "name", "colour", "time"):
                        p = toks[k - 1][0].lower() if k > 0 else ""
                        d = min((abs(h - k) for h in hits), default=3)
                        out.append((tok, p if p in _PLACE_PREPS else "", 1.0 / (1.0 + 0.25 * max(0, d - 1))))
        i = j
    return out


def candidate_spans(question: str, evidence: list[Evidence], min_relevance: float = 0.5) -> list[Span]:
    """Every span of a relevant unit that could answer ``question``, best first."""
    terms = question_terms(question)
    expected = expected_kind(question)
    code_word = bool(re.search(r"\b(code|pin)\b", question.lower())) and "number" not in question.lower()
    out: list[Span] = []
    for rank, ev in enumerate(evidence):
        said, shown = _single_units(ev)
        singles = set(said) | set(shown)
        for unit in units(ev):
            rel = unit_relevance(terms, unit)
            if rel < min_relevance:
                continue
            if unit not in singles:
                rel *= JOINED_LINES_WEIGHT
            for text, prep, close in _spans_in(unit, terms):
                got = kind_of(text)
                fit = _fit(expected, got, text, code_word)
                if expected == "place" and prep:
                    fit = min(1.0, fit + 0.3)
                if fit <= 0:
                    continue
                brevity = 1.0 / (1.0 + 0.15 * max(0, len(text.split()) - 2))
                if expected in ("number", "colour") and len(text.split()) > 1:
                    brevity *= 0.8  # "green" over "outside is green": the typed word alone
                score = rel * fit * (0.5 + 0.5 * close) * brevity + 0.05 / (1 + rank)
                out.append(Span(text, got, unit, ev, score, prep))
    out.sort(key=lambda s: -s.score)
    return out


def relevant_units(question: str, evidence: list[Evidence], min_relevance: float = 0.5) -> list[tuple[str, Evidence, float]]:
    terms = question_terms(question)
    found = [(u, ev, unit_relevance(terms, u)) for ev in evidence for u in units(ev)]
    return sorted([f for f in found if f[2] >= min_relevance], key=lambda f: -f[2])


def asks_for_moment(question: str) -> bool:
    q = question.lower()
    return bool(re.search(r"\bwhen\b|\bat what (point|time)\b", q)) and bool(_MOMENT_Q.search(q))


def _subject(question: str) -> tuple[str, str, str] | None:
    """("The vault code", "is", "") for "What is the vault code?"; trailing preposition third."""
    m = re.match(r"\s*(?:what|who|which)(?:'s|\s+(is|was|are|were))\s+(the\s+|a\s+|an\s+)?(.+?)\s*\??\s*$",
                 question, re.IGNORECASE)
    if not m:
        return None
    verb = (m.group(1) or "is").lower()
    det, rest = (m.group(2) or "").strip().lower(), m.group(3)
    words = rest.split()
    tail = ""
    if len(words) > 1 and words[-1].lower() in ("about", "of", "for", "from", "in", "on", "at", "called"):
        tail = words.pop().lower()
    subject = " ".join(words)
    if det:
        subject = f"{det} {subject}"
    return subject[:1].upper() + subject[1:], verb, tail


def focused(span: Span) -> Span:
    """``span`` with its evidence's moment narrowed to the lines its unit comes from (a segment
    may hold several slides; the answer cites the time its line was shown or said). Evidence
    without line times (``extra["lines"]``) is kept as it is."""
    lines = [ln for ln in span.evidence.extra.get("lines", ()) if ln.get("text") and
             (ln["text"] in span.unit or span.unit in ln["text"]) and span.text in (ln["text"] + " " + span.unit)]
    lines = [ln for ln in lines if span.text in ln["text"]] or lines  # the line holding the span itself
    if not lines:
        return span
    m = span.evidence.moment
    start, end = min(ln["start_s"] for ln in lines), max(ln["end_s"] for ln in lines)
    return replace(span, evidence=replace(span.evidence, moment=Moment(start, end, m.video, m.score)))


def phrase(question: str, span: Span) -> str:
    """One sentence around ``span`` with its moment: the template phrasing."""
    label = span.evidence.moment.label()
    expected = expected_kind(question)
    if expected == "time" and span.kind != "time":  # "when" answered by the moment itself
        return f"At {format_timestamp(span.evidence.moment.start_s)} {label}: {span.unit.rstrip('.')}."
    sub = _subject(question)
    if sub:
        subject, verb, tail = sub
        return f"{subject} {verb} {tail + ' ' if tail else ''}{span.text} {label}."
    if expected in ("place", "time"):
        prep = (span.prep or ("at" if expected == "time" else "in")).capitalize()
        return f"{prep} {span.text} {label}."
    said = span.unit in (span.evidence.transcript or "")
    if said and len(span.unit.split()) <= 16:
        # a short spoken sentence holding the span is the most natural answer ("There are 42 chairs
        # in the hall"); on-screen lines are not sentences, so they get the bare span
        return f"{span.unit.rstrip('.!?')} {label}."
    return f"{span.text[:1].upper()}{span.text[1:]} {label}."


def _precision(terms: set[str], unit: str) -> float:
    """Share of ``unit``'s content words that are the question's key words."""
    words = [t for t, _, _ in _tokens(unit) if t.lower() not in _STOP]
    return sum(_matches(w, terms) for w in words) / max(1, len(words))


def asks_what_is_said(question: str) -> bool:
    """ "What does the speaker say about X?" / "What is said about X?": the answer is what was said."""
    return bool(re.search(r"\bwhat (?:does|did|do) (?:the |a |an )?\w+(?: \w+)? (?:say|said|tell|mention|explain)s?\b.*"
                          r"\babout\b|\bwhat (?:is|was) (?:said|mentioned) about\b", question.lower()))


def said_answer(question: str, evidence: list[Evidence]) -> tuple[str, Evidence] | None:
    """For "what does the speaker say about X": the relevant spoken sentence, reported with its
    time ("The speaker says the budget for next year is $12 million [1:38]."); an on-screen line
    when nothing relevant was said."""
    found = relevant_units(question, evidence)
    spoken = [f for f in found if f[0] in (f[1].transcript or "")]
    if not (spoken or found):
        return None
    unit, ev, _ = (spoken or found)[0]
    text = unit.rstrip(".!?")
    first = text.split()[0] if text.split() else ""
    if not (first == "I" or first.isupper() or (first[:1].isupper() and first.lower() not in _STOP)):
        text = text[:1].lower() + text[1:]
    verb = "says" if spoken else "shows"
    return f"The {'speaker' if spoken else 'video'} {verb} {text} {ev.moment.label()}.", ev


def moment_answer(question: str, evidence: list[Evidence]) -> tuple[str, Evidence] | None:
    """For "when does X appear/get mentioned": the first relevant moment, said with its time."""
    found = relevant_units(question, evidence)
    if not found:
        return None
    best = max(r for _, _, r in found)
    # the best-matching units; of those the one most about the subject (the slide titled
    # "Results" over an agenda line that lists results among other things), then retrieval's
    terms = question_terms(question)
    top = [f for f in found if f[2] == best]
    unit, ev, _ = max(top, key=lambda f: _precision(terms, f[0]))
    words = unit.split()
    short = " ".join(words[:14]) + (" ..." if len(words) > 14 else "")
    where = "shows" if unit in (ev.on_screen_text or "") and unit not in (ev.transcript or "") else "says"
    return f"At {format_timestamp(ev.moment.start_s)} {ev.moment.label()}, where the video {where}: \"{short.rstrip('.')}\".", ev


def addresses(question: str, answer: str, evidence: list[Evidence]) -> bool:
    """Does ``answer`` answer ``question``? It must hold a span of the expected kind taken from a
    relevant unit of ``evidence``, other than the question's own words."""
    low = answer.lower()
    terms = question_terms(question)
    for span in candidate_spans(question, evidence):
        if span.text.lower() in low and not all(_matches(t, terms) for t, _, _ in _tokens(span.text)):
            return True
    if asks_for_moment(question):  # a time that lands on a relevant moment

        times = cited_times(answer)
        return any(ev.moment.start_s - 1 <= t <= ev.moment.end_s + 1
                   for _, ev, _ in relevant_units(question, evidence) for t in times)
    return False
