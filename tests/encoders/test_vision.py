"""The vision towers (SigLIP, DINOv2, CLIP) as frame encoders: preprocessing against PIL and
written-out references, chunking, dtype, layer selection, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")

from longvid.encoders import create_encoder, frames_batch, list_encoders
from longvid.encoders.preprocess import content_mask, pad_to_square, refill_padding
from longvid.encoders.vision import (
    CLIP_L14_336,
    DINOV2_GIANT_378,
    SIGLIP_SO400M_384,
    VisionEncoder,
    preprocess,
)
from longvid.errors import InvalidFeaturesError


# ----------------------------------------------------------------------------- preprocessing
def test_pad_to_square_matches_expand2square():
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)
    ref = Image.new("RGB", (50, 50), (127, 127, 127))
    ref.paste(Image.fromarray(img), (0, (50 - 30) // 2))
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    out = pad_to_square(x, (127.0, 127.0, 127.0))[0].permute(1, 2, 0).numpy()
    assert np.array_equal(out, np.asarray(ref).astype(np.float32))


def test_preprocess_pads_with_mean_colour_and_normalises():
    frames = np.zeros((2, 20, 40, 3), np.uint8)
    px = preprocess(frames, SIGLIP_SO400M_384)
    assert px.shape == (2, 3, 384, 384)
    pad_value = (127 / 255 - 0.5) / 0.5  # int(0.5 * 255) = 127, normalised
    assert torch.allclose(px[:, :, 0, :], torch.full_like(px[:, :, 0, :], pad_value), atol=1e-5)
    assert torch.allclose(px[:, :, 192, 192], torch.full((2, 3), -1.0), atol=1e-5)  # black picture


@pytest.mark.parametrize("wh", [(16, 9), (9, 16), (4, 3), (10, 10)])
def test_content_mask_reference(wh):
    w, h = wh
    g = 24
    ref = torch.ones(g, g, dtype=torch.bool)
    if w > h:
        pad = (g - int(h * g / w)) // 2
        for r in range(g):
            ref[r] = not (r < pad or r >= g - pad)
    elif h > w:
        pad = (g - int(w * g / h)) // 2
        for c in range(g):
            ref[:, c] = not (c < pad or c >= g - pad)
    assert torch.equal(content_mask((g, g), wh), ref)
    if wh == (16, 9):
        assert int(content_mask((g, g), wh).sum()) == 14 * 24


# ----------------------------------------------------------------------------- encoders
def test_encoder_chunks_dtype_and_layer_selection(tmp_path):
    from transformers import CLIPVisionModel

    from longvid.models.testing import tiny_clip_config

    torch.manual_seed(0)
    model = CLIPVisionModel(tiny_clip_config()).eval()
    frames = np.random.default_rng(1).integers(0, 255, (5, 60, 90, 3), dtype=np.uint8)
    batch = frames_batch(frames, np.arange(5) * 0.5)
    out = VisionEncoder(model, CLIP_L14_336, chunk_size=16).encode(batch)
    assert out.grid == (24, 24) and out.frame_indices.tolist() == list(range(5))
    assert out.timestamps_s.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    whole = out.features
    chunked = VisionEncoder(model, CLIP_L14_336, chunk_size=2).encode(batch).features
    torch.testing.assert_close(whole, chunked, rtol=1e-4, atol=1e-5)
    assert whole.shape == (5, 576, 32)
    with torch.no_grad():
        ref = model(pixel_values=preprocess(frames, CLIP_L14_336), output_hidden_states=True).hidden_states[-2][:, 1:]
    torch.testing.assert_close(whole, ref, rtol=1e-4, atol=1e-5)
    bf = VisionEncoder(model.to(torch.bfloat16), CLIP_L14_336).encode(batch).features
    assert bf.dtype == torch.bfloat16
    cos = F.cosine_similarity(bf.float().flatten(1), whole.flatten(1)).min()
    assert cos > 0.99


def test_refill_padding_gives_each_encoder_its_mean_colour():
    side = 32
    x = torch.full((1, 3, side, side), 127.0)
    x[:, :, 7:25] = 10.0  # 16:9 picture: 18 rows of 32 centred (round(9 * 32 / 16) = 18)
    fill = tuple(float(int(m * 255)) for m in DINOV2_GIANT_378.mean)
    out = refill_padding(x.clone(), (16, 9), fill)
    assert out[0, :, 0, 0].tolist() == [123.0, 116.0, 103.0] and out[0, :, 31, 5].tolist() == [123.0, 116.0, 103.0]
    assert bool((out[:, :, 7:25] == 10.0).all())
    assert torch.equal(refill_padding(x.clone(), (10, 10), fill), x)  # square pictures have no padding


# ----------------------------------------------------------------------------- the registry
def test_every_frame_encoder_is_registered():
    assert {"efficientnet-lite0", "siglip", "dinov2", "clip"} <= set(list_encoders())


def test_created_through_the_registry_from_a_folder(tmp_path):
    from transformers import CLIPVisionModel

    from longvid.encoders.base import FrameEncoder
    from longvid.models.testing import tiny_clip_config

    torch.manual_seed(0)
    CLIPVisionModel(tiny_clip_config()).save_pretrained(tmp_path / "clip")
    enc = create_encoder("clip", model=str(tmp_path / "clip"), chunk_size=3)
    assert isinstance(enc, FrameEncoder)
    assert (enc.name, enc.input_size, enc.feature_dim, enc.grid) == ("clip", 336, 32, (24, 24))
    frames = np.random.default_rng(0).integers(0, 255, (4, 40, 50, 3), dtype=np.uint8)
    out = enc.encode(frames_batch(frames))
    assert out.features.shape == (4, 576, 32) and out.features.dtype == torch.float32
    empty = enc.encode(frames_batch(frames[:0]))
    assert empty.features.shape == (0, 576, 32) and len(empty) == 0
    with pytest.raises(ValueError, match="a siglip spec cannot build the 'clip' encoder"):
        create_encoder("clip", model=str(tmp_path / "clip"), spec=SIGLIP_SO400M_384)


def test_bad_frames_are_a_typed_error():
    with pytest.raises(InvalidFeaturesError, match=r"uint8 RGB \(B, H, W, 3\)"):
        preprocess(np.zeros((2, 8, 8, 3), np.float32), SIGLIP_SO400M_384)
    with pytest.raises(InvalidFeaturesError, match="got shape"):
        frames_batch(np.zeros((8, 8, 3), np.uint8))


def test_missing_transformers_names_the_extra(monkeypatch):
    import sys

    from longvid.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(MissingDependencyError, match=r"longvid\[models\]"):
        create_encoder("siglip", model="google/siglip-so400m-patch14-384")
