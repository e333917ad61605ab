"""Reuse of an engine's per-frame and per-text work across V-NIAH cells, by exact content.

Design decisions:
- The cells of one run share almost all their frames: cell videos are written losslessly and
  needles are overlaid in place, so a haystack frame decodes to the same bytes in every cell.
  Wrapping the offline engine's frame encoder, OCR reader and text embedder with a memo keyed by
  a hash of the exact input (pixels + shape, or the text) returns the result already computed for
  identical input; anything new (the needle frames, new text) is computed by the real model.
- Only deterministic per-item functions are memoised, so results are those the engine would
  compute itself. Speech is not memoised (its recogniser carries state across audio chunks).
- Installed through the engine's ``indexer.model(kind)`` factory and its ``indexer.models`` table
  (meant for sharing created models); an engine without them runs unchanged
  (``install_content_memo`` returns which parts it wrapped).
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

logger = logging.getLogger(__name__)


def frame_key(frame: np.ndarray) -> bytes:
    a = np.ascontiguousarray(frame)
    return hashlib.blake2b(a.tobytes(), digest_size=16, person=str(a.shape).encode()[:16]).digest()


class _Memo:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name):  # everything else is the wrapped model's
        return getattr(self.inner, name)


class MemoOCR(_Memo):
    def __init__(self, inner) -> None:
        super().__init__(inner)
        self._cache: dict[bytes, list] = {}

    def read(self, frame: np.ndarray):
        k = frame_key(frame)
        if k in self._cache:
            self.hits += 1
        else:
            self.misses += 1
            self._cache[k] = self.inner.read(frame)
        return list(self._cache[k])


class MemoEncoder(_Memo):
    """Per-frame memo of a frame encoder's ``encode(FrameBatch) -> FrameFeatures``; misses are
    encoded together, in one batch. Everything else (``class_logits``...) is the inner encoder's."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self._cache: dict[bytes, object] = {}  # frame key -> that frame's (N, D) features

    def encode(self, batch):
        import torch

        from longvid.types import FrameBatch, FrameFeatures

        keys = [frame_key(f) for f in batch.frames]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            sub = FrameBatch(np.ascontiguousarray(batch.frames[todo]), batch.timestamps_s[todo],
                             batch.targets_s[todo], batch.indices[todo])
            enc = self.inner.encode(sub)
            self._grid = enc.grid
            for j, i in enumerate(todo):
                self._cache[keys[i]] = enc.features[j].clone()
        feats = torch.stack([self._cache[k] for k in keys])
        return FrameFeatures(feats, self._grid, torch.as_tensor(batch.timestamps_s, dtype=torch.float64),
                             torch.as_tensor(batch.indices, dtype=torch.long))


class MemoEmbedder(_Memo):
    def __init__(self, inner) -> None:
        super().__init__(inner)
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts):
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        if todo:
            for t, e in zip(todo, self.inner.embed(todo)):
                self._cache[t] = np.array(e, copy=True)
        if not texts:
            return self.inner.embed(texts)
        return np.stack([self._cache[t] for t in texts])


_WRAPPERS = {"encoder": MemoEncoder, "ocr": MemoOCR, "embedder": MemoEmbedder}


def install_content_memo(engine) -> dict[str, _Memo]:
    """Wrap the engine's encoder, OCR and embedder with content memos; return what was wrapped."""
    indexer = getattr(engine, "indexer", None)
    models = getattr(indexer, "models", None)  # the indexer's public table of created stage models
    if indexer is None or not hasattr(indexer, "model") or not isinstance(models, dict):
        logger.info(
            "engine %s has no model table to memoise: every cell is computed in full",
            getattr(engine, "name", engine),
        )
        return {}
    out = {}
    for kind, cls in _WRAPPERS.items():
        inner = indexer.model(kind)  # the engine creates its own model, as it would anyway
        if inner is None:
            continue
        if not isinstance(inner, _Memo):
            models[kind] = cls(inner)
        out[kind] = models[kind]
    return out


def memo_stats(memos: dict[str, _Memo]) -> dict[str, dict[str, int]]:
    return {k: {"hits": m.hits, "misses": m.misses} for k, m in memos.items()}
