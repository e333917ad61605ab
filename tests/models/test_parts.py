"""Numerical checks of the parts against straightforward reference computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from longvid.encoders.preprocess import content_mask
from longvid.models.longvu.modules import LongVUConnector, to_windows, window_mask


# ----------------------------------------------------------------------------- aggregator
def test_windows_reference():
    x = torch.randn(2, 36, 5)
    w = to_windows(x, 6, 3)  # 3x3 queries, 2x2 windows
    assert w.shape == (18, 4, 5)
    grid = x.view(2, 6, 6, 5)
    for b in range(2):
        for i in range(3):
            for j in range(3):
                ref = torch.stack([grid[b, 2 * i + di, 2 * j + dj] for di in range(2) for dj in range(2)])
                assert torch.equal(w[b * 9 + i * 3 + j], ref)


def test_window_mask_all_padding_attends_everywhere():
    m = torch.zeros(1, 4, 4, dtype=torch.bool)
    m[0, 1, :] = True  # only row 1 is picture
    wm = window_mask(m, 2)
    assert wm.shape == (4, 4)
    assert wm[0].tolist() == [False, False, True, True] and wm[1].tolist() == [False, False, True, True]
    assert wm[2].all() and wm[3].all()  # windows wholly in padding


def reference_aggregate(conn: LongVUConnector, maps, picture):
    """Loops over query cells and heads; softmax written out."""
    g, qs = conn.encoder_grid, conn.query_side
    r = g // qs
    proj = [getattr(conn, f"mm_projector_aux_{i}")(m) for i, m in enumerate(maps)]
    b = maps[0].shape[0]
    out = torch.zeros(b, qs * qs, conn.vision_query.shape[1])
    for bi in range(b):
        ctx = proj[0][bi].mean(0)
        for qi in range(qs):
            for qj in range(qs):
                cells = [(qi * r + a) * g + qj * r + c for a in range(r) for c in range(r)]
                q = conn.vision_query[0].clone()
                for layer in conn.vision_sampler_0.layers:
                    x = layer.proj_in(torch.cat([q, layer.proj_context(ctx)]))
                    att = layer.cross_attn
                    ks, vs, ms = [], [], []
                    for i, p in enumerate(proj):
                        win = p[bi, cells] + getattr(layer, f"pos_embed_{i}")
                        ks.append(getattr(att, f"k_proj_{i}")(win))
                        vs.append(getattr(att, f"v_proj_{i}")(win))
                        ms.append(torch.tensor([bool(picture.flatten()[c]) for c in cells]))
                    k, v, msk = torch.cat(ks), torch.cat(vs), torch.cat(ms)
                    if not msk.any():
                        msk = torch.ones_like(msk)
                    qv = att.q_proj(x)
                    h = att.num_heads
                    dh = qv.shape[0] // h
                    heads = []
                    for hh in range(h):
                        sl = slice(hh * dh, (hh + 1) * dh)
                        s = (k[:, sl] @ qv[sl]) / math.sqrt(dh)
                        s = s.masked_fill(~msk, float("-inf"))
                        heads.append(torch.softmax(s, 0) @ v[:, sl])
                    a = att.o_proj(torch.cat(heads))
                    q = layer.proj_out(layer.norm(x + a)) + q
                out[bi, qi * qs + qj] = q
    return out


def test_aggregator_matches_reference():
    torch.manual_seed(0)
    conn = LongVUConnector(encoder_dims=[6, 10], encoder_grid=4, vision_hidden_size=8, query_side=2,
                           depth=2, num_heads=2, llm_hidden_size=12)
    with torch.no_grad():
        for p in conn.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    maps = [torch.randn(2, 16, 6), torch.randn(2, 16, 10)]
    picture = content_mask((4, 4), (8, 3))  # landscape: top and bottom rows are padding
    assert not picture[0].any()
    with torch.no_grad():
        got = conn.aggregate(maps, picture)
        ref = reference_aggregate(conn, maps, picture)
    assert got.shape == (2, 4, 8)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # attention ignores padding cells (the global mean, as released, does not)
        maps2 = [maps[0], maps[1].clone()]
        maps2[1].view(2, 4, 4, -1)[:, 0] += 5.0
        torch.testing.assert_close(conn.aggregate(maps2, picture), got)
        maps2[1].view(2, 4, 4, -1)[:, 1] += 5.0  # a picture row does matter
        assert not torch.allclose(conn.aggregate(maps2, picture), got)


def test_released_connector_names():
    conn = LongVUConnector(encoder_dims=[1152, 1536], encoder_grid=24, vision_hidden_size=1024, query_side=12,
                           depth=3, num_heads=16, llm_hidden_size=3584)
    shapes = {k: tuple(v.shape) for k, v in conn.state_dict().items()}
    expect = {
        "mm_projector.0.weight": (3584, 1024), "mm_projector.2.weight": (3584, 3584),
        "mm_projector_aux_0.0.weight": (1024, 1152), "mm_projector_aux_1.0.weight": (1024, 1536),
        "mm_projector_aux_1.3.weight": (1024,), "vision_query": (1, 1024), "image_newline": (3584,),
        "vision_sampler_0.layers.2.pos_embed_1": (4, 1024),
        "vision_sampler_0.layers.0.proj_in.weight": (1024, 2048),
        "vision_sampler_0.layers.0.proj_context.weight": (1024, 1024),
        "vision_sampler_0.layers.0.cross_attn.q_proj.0.weight": (1024,),
        "vision_sampler_0.layers.0.cross_attn.k_proj_0.1.weight": (1024, 1024),
        "vision_sampler_0.layers.0.cross_attn.v_proj_1.0.bias": (1024,),
        "vision_sampler_0.layers.0.cross_attn.o_proj.weight": (1024, 1024),
        "vision_sampler_0.layers.1.proj_out.linear_2.weight": (1024, 1024),
        "vision_sampler_0.layers.1.norm.bias": (1024,),
    }
    for k, v in expect.items():
        assert shapes[k] == v, k
    assert not any("bias" in k for k in shapes if "proj_out" in k or "o_proj" in k or "proj_in" in k)
    # per layer: proj_context, proj_in, proj_out x2, norm x2, pos_embed x2, q_proj x3,
    # k/v_proj x2 sources x3, o_proj = 24; plus aux projectors 2x6, mm_projector 4, query, newline
    assert len(shapes) == 3 * 24 + 12 + 4 + 2


def test_low_resolution_is_bilinear_12_to_8():
    conn = LongVUConnector(encoder_dims=[4], encoder_grid=24, vision_hidden_size=16, query_side=12, depth=1,
                           num_heads=2, llm_hidden_size=8)
    agg = torch.randn(3, 144, 16)
    low = conn.low_resolution(agg, (8, 8))
    ref = F.interpolate(agg.view(3, 12, 12, 16).permute(0, 3, 1, 2), size=(8, 8), mode="bilinear",
                        align_corners=False).permute(0, 2, 3, 1).reshape(3, 64, 16)
    torch.testing.assert_close(low, ref)


# ----------------------------------------------------------------------------- LongVA pooling
def test_longva_projector_then_2x2_average_pool():
    from longvid.models.longva.config import LongVAConfig
    from longvid.models.longva.model import LongVAConnector

    cfg = LongVAConfig(model_type="llava_qwen", hidden_size=6, vision_tower="x", mm_hidden_size=4)
    conn = LongVAConnector(cfg)
    x = torch.randn(2, 576, 4)
    out = conn(x)
    assert out.shape == (2, 144, 6)
    p = conn.mm_projector(x).view(2, 24, 24, 6)
    for i in (0, 5, 11):
        for j in (0, 7, 11):
            ref = p[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(dim=(1, 2))
            torch.testing.assert_close(out[:, i * 12 + j], ref)
    assert [k for k in conn.state_dict()] == ["mm_projector.0.weight", "mm_projector.0.bias",
                                              "mm_projector.2.weight", "mm_projector.2.bias"]


def test_unires_grid_choice_and_crops():
    from longvid.models.longva.unires import best_resolution, split_crops

    pins = [(336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)]
    assert best_resolution((1000, 330), pins) == (1008, 336)
    assert best_resolution((500, 500), pins) == (672, 672)
    img = np.zeros((336, 1008, 3), np.uint8)
    img[:, 336:672] = 200
    crops, (ny, nx) = split_crops(img, pins, 336)
    assert (ny, nx) == (1, 3) and crops.shape == (3, 336, 336, 3)
    assert crops[0].max() == 0 and crops[1].min() == 200 and crops[2].max() == 0


# ----------------------------------------------------------------------------- newlines
def test_newlines_after_each_row_run():
    from longvid.models.newline import add_newlines, fit_with_newlines
    from longvid.types import VisualTokens

    # frame 0 on a 2x2 grid keeps cells 0, 1, 3; frame 1 on a 2x3 grid keeps 0 and 5
    cells = torch.tensor([0, 1, 3, 0, 5])
    grids = torch.tensor([[2, 2]] * 3 + [[2, 3]] * 2)
    vt = VisualTokens(torch.arange(5.0)[:, None].repeat(1, 2), torch.tensor([0, 0, 0, 1, 1]),
                      torch.tensor([0.0, 0, 0, 1, 1], dtype=torch.float64), cells, (), grids)
    nl = torch.tensor([-1.0, -1.0])
    out = add_newlines(vt, nl)
    assert out.tokens[:, 0].tolist() == [0, 1, -1, 2, -1, 3, -1, 4, -1]
    assert out.cells.tolist() == [0, 1, -1, 3, -1, 0, -1, 5, -1]
    assert out.frame_indices.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    # the budget loop: the compressor is asked for less until tokens + newlines fit
    asked = []

    def comp(b):
        asked.append(b)
        n = min(b, 5)
        return VisualTokens(vt.tokens[:n], vt.frame_indices[:n], vt.timestamps_s[:n], vt.cells[:n], (), grids[:n])

    got = fit_with_newlines(comp, nl, 6)
    assert len(got) <= 6 and asked[0] == 6 and len(asked) > 1


# ----------------------------------------------------------------------------- prompt and splice
def test_prompt_split_and_embedding_placement(tmp_path):
    from longvid.models.testing import make_tokenizer

    from longvid.models.prompt import build_prompt, splice

    tok = make_tokenizer(tmp_path)
    parts = build_prompt(tok, "what color is the square?")
    assert parts.text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
    assert parts.text.endswith("<|im_start|>assistant\n")
    assert tok.convert_ids_to_tokens(parts.after_ids.tolist())[:2] == ["what", "color"]
    assert tok.convert_ids_to_tokens(parts.before_ids.tolist())[-2:] == ["<|im_start|>", "user"]
    emb = torch.nn.Embedding(len(tok), 8)
    vis = torch.randn(5, 8)
    x, mask = splice(emb, parts, vis)
    p, q = len(parts.before_ids), len(parts.after_ids)
    assert x.shape == (1, p + 5 + q, 8) and mask.shape == (1, p + 5 + q) and bool(mask.all())
    torch.testing.assert_close(x[0, :p], emb(parts.before_ids))
    torch.testing.assert_close(x[0, p:p + 5], vis)
    torch.testing.assert_close(x[0, p + 5:], emb(parts.after_ids))


def test_spliced_text_equals_token_forward(longvu_dir):
    """With no visual tokens, the spliced embeddings give the LLM exactly its logits on the ids."""
    from longvid.models.engine import load_model
    from longvid.models.prompt import build_prompt, splice

    folder, towers = longvu_dir.folder, longvu_dir.vision_towers
    m = load_model(str(folder), vision_towers=towers)
    parts = build_prompt(m.tokenizer, "what is in the video?")
    x, mask = splice(m.llm.get_input_embeddings(), parts, torch.empty(0, 32))
    ids = torch.cat([parts.before_ids, parts.after_ids])[None]
    with torch.no_grad():
        a = m.llm(inputs_embeds=x, attention_mask=mask).logits
        b = m.llm(input_ids=ids).logits
    torch.testing.assert_close(a, b)


def test_streamer_pieces_join_to_decode(tmp_path):
    from longvid.models.testing import make_tokenizer

    from longvid.models.generate import CallbackStreamer

    tok = make_tokenizer(tmp_path)
    pieces = []
    s = CallbackStreamer(tok, pieces.append)
    s.put(torch.empty(1, 0, dtype=torch.long))
    ids = tok("a red square moving", add_special_tokens=False)["input_ids"]
    for i in ids:
        s.put(torch.tensor([i]))
    s.end()
    assert "".join(pieces) == tok.decode(ids) and len(pieces) == len(ids)
