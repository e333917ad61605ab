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
"""

from __future__ import annotations

import re

import numpy as np

from longvid.offline.config import QueryConfig
from longvid.offline.store import Segment, VideoIndex
from longvid.types import Evidence, Moment


def hybrid_search(
    index: VideoIndex, query: str, query_vec: np.ndarray, k: int, config: QueryConfig | None = None
) -> list[Evidence]:
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
    best = [i for i in np.argsort(-fused)[:k] if fused[i] > 0]
    video = index.manifest.get("video", "")
    return [to_evidence(index, index.segments[i], float(fused[i]), float(cos[i]), video) for i in best]


def query_words(query: str) -> list[str]:
    """The words of a query worth matching literally (question words and fillers dropped)."""
    from longvid.offline.answer import STOPWORDS

    return [w for w in re.findall(r"[a-z0-9]+", query.lower()) if w not in STOPWORDS and len(w) > 1]


def to_evidence(index: VideoIndex, seg: Segment, score: float, cosine: float, video: str) -> Evidence:
    return Evidence(
        moment=Moment(seg.start_s, seg.end_s, video, score),
        transcript=seg.transcript,
        on_screen_text=seg.on_screen,
        tags=seg.tags,
        keyframe=index.keyframe_path(seg),
        extra={"lines": list(seg.lines), "cosine": round(cosine, 4)},
    )
