"""LLaMA-VID on one still image: ``image_tokens(array)`` (context + content, frame 0 at 0 s) and
``ask`` on an image file (decoded as a one-frame video)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
np = pytest.importorskip("numpy")

from longvid.models.llama_vid.cache import FeatureCache  # noqa: E402
from longvid.models.llama_vid.testing import make_llama_vid  # noqa: E402


@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    from longvid.models import load_engine
    from longvid.models.generate import GenerationConfig

    ck = make_llama_vid(tmp_path_factory.mktemp("lv_img") / "model")
    e = load_engine(str(ck.folder), check_memory=False, generation=GenerationConfig(max_new_tokens=3, do_sample=False))
    e.model.feature_cache = FeatureCache(tmp_path_factory.mktemp("lv_img_cache"))
    return e


def image(seed=0):
    return (np.random.default_rng(seed).random((48, 64, 3)) * 255).astype(np.uint8)


def test_image_tokens_context_reads_the_question_content_is_the_pooled_patches(eng):
    m = eng.model
    img = image()
    vt = m.image_tokens(img, "what is red")
    assert len(vt) == 2 and vt.frame_indices.tolist() == [0, 0] and vt.timestamps_s.tolist() == [0.0, 0.0]
    assert vt.cells.tolist() == [-1, -1]
    # content token written out: EVA's patches (class token dropped), averaged, through the 2-layer MLP
    with torch.no_grad():
        patches = m.encoder.model(m.encoder.preprocess(img[None]))[:, 1:]
        content = m.connector.mm_projector(patches.mean(1))[0]
    assert torch.allclose(vt.tokens[1], content, atol=1e-5)
    other = m.image_tokens(img, "where is the cat")
    assert torch.allclose(other.tokens[1], vt.tokens[1]) and not torch.allclose(other.tokens[0], vt.tokens[0])


def test_image_tokens_refuses_what_is_not_an_rgb_image(eng):
    with pytest.raises(ValueError, match="uint8 RGB"):
        eng.model.image_tokens(np.zeros((4, 4), dtype=np.uint8), "what")


def test_ask_on_an_image_file(eng, tmp_path):
    from PIL import Image

    path = tmp_path / "still.png"
    Image.fromarray(image(1)).save(path)
    r = eng.run(str(path), "what is in the picture")
    assert r.new_tokens >= 1 and len(r.visual_tokens) == 2
    assert [e.extra["frame_index"] for e in r.answer.evidence] == [0]
