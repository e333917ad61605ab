"""Hybrid retrieval: the text-guided query of LongVU, over a video's timeline.

Design decisions:
- Three rankings of segments: embedding cosine (MiniLM, meaning), FTS5 bm25 (exact words: names,
  numbers, codes that embeddings blur; question words dropped) and trigram matches in on-screen
  text (OCR drops spaces). They are fused by reciprocal rank fusion
  (``1 / (rrf_k + rank)``), which needs no score calibration between the two.
- Embedding hits below ``min_cosine`` are dropped so an unrelated question does not drag in
  arbitrary segments; empty segments ("nothing said or written") never rank.
- Results are ``Evidence`` with the segment's span as the moment, its transcript, on-screen text,
  tags and keyframe path; ``extra["lines"]`` keeps each line's own time.
- Visual tags are ImageNet class names ("mountain bike", "tabby"), which a question rarely uses
  ("bicycle", "cat"), and neither bm25 nor the segment's embedding (tags are a few words of a
  longer document) bridges that. With an ``embedder``, each content word of the question is
  embedded and compared with each tag present in the video; tags at ``tag_min_cosine`` or more,
  and within ``tag_margin`` of the best tag, match, and the segments carrying them form a
  fourth ranking (by match cosine). The tags matched are kept in ``extra["matched_tags"]`` as
  (tag, question word, cosine) so the answer can say why a moment was chosen.
- Segments are at most a few seconds long, but a slide stays up for as long as it stays up: hits
  that fall in one unbroken run of segments showing the same on-screen text become one piece of
  evidence spanning the whole run ("when does the slide appear" is answered by its first second,
  and the k results are k different moments, not one slide three times). Only the transcripts of
  segments that ranked are kept, so a slide left up for ten minutes does not flood the context.
"""

from __future__ import annotations

import re

import numpy as np

from longvid.offline.config import QueryConfig
from longvid.offline.store import Segment, VideoIndex
from longvid.types import Evidence, Moment


def hybrid_search(
    index: VideoIndex, query: str, query_vec: np.ndarray, k: int, config: QueryConfig | None = None,
    *, embedder=None,
) -> list[Evidence]:
    """The ``k`` best pieces of evidence for ``query``; ``embedder`` (the index's text embedder)
    turns on matching question words to visual tags."""
    config = config or QueryConfig()
    n = len(index.segments)
    if n == 0:
        return []
    has_text = np.array([bool(s.transcript or s.on_screen or s.tags) for s in index.segments])
    cos = index.embeddings @ query_vec.astype(np.float32)
    fused = np.zeros(n)
    order = [i for i in np.argsort(-cos) if has_text[i] and cos[i] >= config.min_cosine]
    for rank, i in enumerate(order[: max(k * 4, 20)]):
        fused[i] += 1.0 / (config.rrf_k + rank + 1)
    words = query_words(query)
    for hits in (index.keyword_search(words, max(k * 4, 20)), index.screen_substring_search(words, max(k * 4, 20))):
        for rank, (i, _) in enumerate(hits):
            fused[i] += 1.0 / (config.rrf_k + rank + 1)
    matched = match_tags(words, sorted({t for s in index.segments for t in s.tags}), embedder, config) if embedder else {}
    if matched:
        tag_score = np.array([max((matched[t][1] for t in s.tags if t in matched), default=0.0) for s in index.segments])
        by_tag = [i for i in np.argsort(-tag_score, kind="stable") if tag_score[i] > 0]
        for rank, i in enumerate(by_tag[: max(k * 4, 20)]):
            fused[i] += 1.0 / (config.rrf_k + rank + 1)
    ranked = [int(i) for i in np.argsort(-fused) if fused[i] > 0]
    video = index.manifest.get("video", "")
    out: list[Evidence] = []
    covered: set[int] = set()
    for i in ranked:
        if len(out) == k:
            break
        if i in covered:
            continue
        run = screen_run(index.segments, i)
        covered.update(run)
        hits = [j for j in run if fused[j] > 0]
        ev = to_evidence(index, index.segments[i], float(fused[i]), float(cos[i]), video,
                         run=[index.segments[j] for j in run], hits=[index.segments[j] for j in hits])
        found = [(t, matched[t][0], round(matched[t][1], 3)) for t in ev.tags if t in matched]
        if found:
            ev.extra["matched_tags"] = found
        out.append(ev)
    return out


# words that say how to look, not what to look for: matched against tags they only add noise
# ("show" ~ "television", "drive" ~ "pickup")
VISUAL_FILLERS = frozenset({
    "show", "shows", "shown", "see", "seen", "find", "someone", "something", "appear", "appears",
    "appearing", "scene", "scenes", "frame", "frames", "picture", "look", "looks", "visible", "we",
    "there", "happen", "happens", "moment", "first", "last", "played", "arrive", "arrives",
})


def match_tags(words: list[str], tags: list[str], embedder, config: QueryConfig) -> dict[str, tuple[str, float]]:
    """The tags (ImageNet class names present in the video) that question ``words`` name:
    ``{tag: (question word, cosine)}``; see the module docstring for the rule."""
    words = [w for w in words if w not in VISUAL_FILLERS and not w.isdigit()]
    if not words or not tags:
        return {}
    vecs = embedder.embed(words + list(tags))
    sims = vecs[len(words):] @ vecs[: len(words)].T  # (tags, words)
    best_word = sims.argmax(1)
    score = sims.max(1)
    floor = max(config.tag_min_cosine, float(score.max()) - config.tag_margin)
    return {t: (words[int(best_word[i])], float(score[i])) for i, t in enumerate(tags) if score[i] >= floor}


def screen_run(segments: list[Segment], i: int) -> list[int]:
    """Indices of the unbroken run of segments around ``i`` that show the same on-screen text."""
    text = segments[i].on_screen
    if not text:
        return [i]
    lo = hi = i
    while lo > 0 and segments[lo - 1].on_screen == text and segments[lo - 1].end_s >= segments[lo].start_s - 0.5:
        lo -= 1
    while hi + 1 < len(segments) and segments[hi + 1].on_screen == text and segments[hi + 1].start_s <= segments[hi].end_s + 0.5:
        hi += 1
    return list(range(lo, hi + 1))


def query_words(query: str) -> list[str]:
    """The words of a query worth matching literally (question words and fillers dropped)."""
    from longvid.offline.answer import STOPWORDS

    return [w for w in re.findall(r"[a-z0-9]+", query.lower()) if w not in STOPWORDS and len(w) > 1]


def to_evidence(index: VideoIndex, seg: Segment, score: float, cosine: float, video: str, *,
                run: list[Segment] | None = None, hits: list[Segment] | None = None) -> Evidence:
    """Evidence for ``seg``; with ``run``, the moment spans the run and ``hits`` give the words."""
    run, hits = run or [seg], hits or [seg]
    lines: list[dict] = []
    for h in hits:
        lines.extend(line for line in h.lines if line not in lines)
    lines.sort(key=lambda line: line["start_s"])
    return Evidence(
        moment=Moment(run[0].start_s, run[-1].end_s, video, score),
        transcript=" ".join(h.transcript for h in hits if h.transcript),
        on_screen_text=seg.on_screen,
        tags=tuple(dict.fromkeys(t for h in hits for t in h.tags)),
        keyframe=index.keyframe_path(seg),
        extra={"lines": lines, "cosine": round(cosine, 4)},
    )
