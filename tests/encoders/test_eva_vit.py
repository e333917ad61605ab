"""EVA-ViT-G (LLaMA-VID's frame encoder): the forward pass against a direct computation, weight
loading by the released names, preprocessing and the encoder contract."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from longvid.encoders import create_encoder, frames_batch, list_encoders
from longvid.encoders.eva_vit import EvaConfig, EvaViT, load_eva_state
from longvid.errors import ModelLoadError

CFG = EvaConfig(image_size=28, patch_size=14, width=16, depth=2, heads=2, mlp_ratio=2.0)


def random_eva(seed: int = 0) -> EvaViT:
    g = torch.Generator().manual_seed(seed)
    m = EvaViT(CFG)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return m.eval()


def reference_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """EVA written out: patches as a matrix product, q/v biases (no k bias), softmax attention."""
    b, p, w, h = x.shape[0], CFG.patch_size, CFG.width, CFG.heads
    g = CFG.image_size // p
    patches = x.reshape(b, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, 3 * p * p)
    t = patches @ state["patch_embed.proj.weight"].reshape(w, -1).T + state["patch_embed.proj.bias"]
    t = torch.cat([state["cls_token"].expand(b, 1, w), t], 1) + state["pos_embed"]

    def ln(v, name):
        mu, var = v.mean(-1, keepdim=True), v.var(-1, unbiased=False, keepdim=True)
        return (v - mu) / torch.sqrt(var + 1e-6) * state[name + ".weight"] + state[name + ".bias"]

    for i in range(CFG.depth):
        pre = f"blocks.{i}."
        y = ln(t, pre + "norm1")
        qkv = y @ state[pre + "attn.qkv.weight"].T
        q, k, v = qkv.split(w, -1)
        q, v = q + state[pre + "attn.q_bias"], v + state[pre + "attn.v_bias"]
        d = w // h
        q, k, v = (z.reshape(b, -1, h, d) for z in (q, k, v))
        heads = [torch.softmax(q[:, :, j] @ k[:, :, j].transpose(1, 2) / d ** 0.5, -1) @ v[:, :, j] for j in range(h)]
        a = torch.cat(heads, -1) @ state[pre + "attn.proj.weight"].T + state[pre + "attn.proj.bias"]
        t = t + a
        y = ln(t, pre + "norm2")
        hid = torch.nn.functional.gelu(y @ state[pre + "mlp.fc1.weight"].T + state[pre + "mlp.fc1.bias"])
        t = t + hid @ state[pre + "mlp.fc2.weight"].T + state[pre + "mlp.fc2.bias"]
    return t


def test_forward_matches_a_direct_computation():
    m = random_eva()
    x = torch.randn(2, 3, 28, 28, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = m(x)
    assert out.shape == (2, 1 + 4, 16)
    ref = reference_forward({k: v for k, v in m.state_dict().items()}, x)
    assert torch.allclose(out, ref, atol=1e-4)


def test_released_names_and_the_dropped_last_block_is_ignored():
    m = random_eva()
    state = dict(m.state_dict())
    assert {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.attn.q_bias", "blocks.0.attn.v_bias",
            "blocks.1.mlp.fc2.weight"} <= set(state)
    assert "blocks.0.attn.k_bias" not in state
    # eva_vit_g.pth holds one block more than the tower uses: it is skipped, as in the original
    state.update({k.replace("blocks.1.", "blocks.2."): v for k, v in m.state_dict().items() if k.startswith("blocks.1.")})
    fresh = EvaViT(CFG)
    load_eva_state(fresh, state, where="test")
    assert torch.equal(fresh.blocks[1].attn.qkv.weight, m.blocks[1].attn.qkv.weight)


def test_wrong_weights_are_named():
    state = dict(random_eva().state_dict())
    del state["blocks.0.attn.q_bias"]
    state["head.weight"] = torch.zeros(3, 16)
    state["blocks.1.mlp.fc1.weight"] = torch.zeros(5, 16)
    with pytest.raises(ModelLoadError) as e:
        load_eva_state(EvaViT(CFG), state, where="test")
    msg = str(e.value)
    assert "blocks.0.attn.q_bias" in msg and "head.weight" in msg and "blocks.1.mlp.fc1.weight (5, 16)" in msg


def test_position_table_of_another_grid_is_resized_keeping_the_class_token():
    m = random_eva()
    state = dict(m.state_dict())
    cls = state["pos_embed"][:, :1].clone()
    state["pos_embed"] = torch.randn(1, 1 + 9, 16)  # a 3x3 table for a 2x2 tower
    state["pos_embed"][:, :1] = cls
    fresh = EvaViT(CFG)
    load_eva_state(fresh, state, where="test")
    assert fresh.pos_embed.shape == (1, 5, 16)
    assert torch.equal(fresh.pos_embed[:, :1], cls)


def test_encoder_contract_from_a_weights_file(tmp_path):
    m = random_eva()
    torch.save(m.state_dict(), tmp_path / "eva_vit_g.pth")
    assert "eva_vit_g" in list_encoders()
    enc = create_encoder("eva_vit_g", model=str(tmp_path), config=CFG, chunk_size=2)
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 60, 3), dtype=np.uint8)
    batch = frames_batch(frames)
    feats = enc.encode(batch)
    assert feats.features.shape == (3, 4, 16) and feats.grid == (2, 2)
    assert enc.calls == 2  # chunks of two frames
    tokens = enc.encode_tokens(batch)
    assert torch.equal(tokens[:, 1:], feats.features)
    # CLIP preprocessing: short side bicubic to 28, centre crop, CLIP mean/std
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=(28, 42), mode="bicubic", align_corners=False, antialias=True)[..., 7:35]
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = m((x.clamp(0, 255) / 255 - mean) / std)  # the resized picture stays in 0..255, as PIL keeps it
    assert torch.allclose(tokens, ref, rtol=1e-4, atol=1e-3)


def test_no_weights_says_where_to_put_them(tmp_path):
    with pytest.raises(ModelLoadError, match="eva_vit_g.pth"):
        create_encoder("eva_vit_g", model=str(tmp_path), config=CFG)
