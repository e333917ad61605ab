"""Video-XL: the tiny released-layout checkpoint through the public loader, the beacon prefill
against plain computations, the cache's growth, the memory planner and the CLI."""

from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
safetensors = pytest.importorskip("safetensors.torch")

from longvid.errors import BudgetError, ModelLoadError  # noqa: E402
from longvid.synth import testvideo as media  # noqa: E402

WINDOW = 288  # two frames of 144 tokens: many windows on few frames (the release uses 1440)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from longvid.models.videoxl.testing import make_videoxl

    return make_videoxl(tmp_path_factory.mktemp("videoxl"), window=WINDOW)


@pytest.fixture(scope="module")
def model(ckpt):
    from longvid.models.engine import load_model

    return load_model(str(ckpt.folder), vision_towers=ckpt.vision_towers, check_memory=False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("videoxl_media")
    return str(media.make_video(d / "clip.mp4", duration_s=6.0, fps=4, size=(96, 64),
                                scenes=((0.0, (200, 40, 40), "red"), (3.0, (40, 200, 40), "green"))))


def test_registered_and_picked_from_config_json(ckpt):
    from longvid.models import list_families
    from longvid.models.registry import family_for_config
    from longvid.models.testing import longva_config

    assert "videoxl" in list_families()
    raw = json.loads((ckpt.folder / "config.json").read_text())
    assert raw["model_type"] == "llava_qwen" and raw["beacon_param"] == ["q", "k", "v"]
    assert family_for_config(raw).name == "videoxl"
    assert family_for_config(longva_config(100, context=2000)).name == "longva"  # same model_type, no beacons


def test_released_weight_names_are_on_disk(ckpt):
    index = json.loads((ckpt.folder / "model.safetensors.index.json").read_text())["weight_map"]
    for key in ("model.beacon_embed_tokens.weight", "model.layers.1.self_attn.beacon_q_proj.weight",
                "model.layers.0.self_attn.beacon_k_proj.bias", "model.layers.0.self_attn.beacon_v_proj.weight",
                "model.mm_projector.2.weight", "model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding.weight",
                "model.layers.0.self_attn.q_proj.weight", "lm_head.weight"):
        assert key in index, key
    for f in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        assert (ckpt.folder / f).is_file()


def test_end_to_end_every_beacon_traced_to_its_frames(ckpt, clip):
    from longvid.models import load_engine
    from longvid.models.generate import GenerationConfig

    eng = load_engine(str(ckpt.folder), vision_towers=ckpt.vision_towers, num_frames=5,
                      generation=GenerationConfig(max_new_tokens=6, do_sample=False))
    eng.ratio = 4
    pieces = []
    res = eng.run(clip, "what colour is the square?", on_text=pieces.append)
    run = res.run
    assert res.new_tokens >= 1 and res.answer.text and "".join(pieces).strip() == res.answer.text
    assert run.frames == 5 and run.raw_tokens == 5 * 144 and run.windows == 3  # 2 + 2 + 1 frames
    assert len(run.spans) == len(run.visual) == 5 * 144 // 4
    from longvid.io.probe import probe
    from longvid.io.sampling import SamplingConfig, plan_targets

    times = [float(t) for t in plan_targets(probe(clip), SamplingConfig(num_frames=5))]
    for j, s in enumerate(run.spans):
        frame, within = divmod(j * 4, 144)  # beacon j summarises raw tokens 4j .. 4j+3
        assert (s.first_frame, s.last_frame) == (frame, frame)
        assert (s.first_cell, s.last_cell) == (within, within + 3)
        assert s.start_s == pytest.approx(times[frame], abs=0.3) and s.end_s == s.start_s
    assert run.visual.frame_indices.tolist() == [s.first_frame for s in run.spans]
    assert {e.extra["frame_index"] for e in res.answer.evidence} <= set(range(5))


def _tokens(model, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, model.config.hidden_size, generator=g)


def _feed(model, pre_ids, video, ratio, post_ids=None):
    from longvid.models.videoxl.beacon import BeaconPrefill

    pre = BeaconPrefill(model.lm, window=model.config.window, ratio=ratio)
    pre.add_text(pre_ids)
    n = video.shape[0]
    for a in range(0, n, 100):  # arrives in pieces that do not align with windows or frames
        b = min(n, a + 100)
        idx = torch.arange(a, b)
        pre.add_video(video[a:b], idx // 144, (idx // 144).double(), idx % 144)
    pre.end_video()
    logits = pre.add_text(post_ids, logits=True) if post_ids is not None else None
    return pre, logits


def test_ratio_one_in_one_window_equals_a_plain_forward(model):
    pre_ids, post_ids = torch.tensor([3, 5, 7, 11]), torch.tensor([13, 2, 4])
    video = _tokens(model, WINDOW - 10)  # fits one window
    _, logits = _feed(model, pre_ids, video, 1, post_ids)
    emb = model.llm.get_input_embeddings()
    x = torch.cat([emb(pre_ids), video, emb(post_ids)])[None]
    with torch.no_grad():
        ref = model.llm(inputs_embeds=x).logits[0, -1]
    assert torch.allclose(logits, ref, atol=1e-4, rtol=1e-4)


def test_one_window_with_beacons_against_a_direct_computation(model):
    """r=4, one window: the question sees the prefix and the beacons only, each beacon row
    projected by the beacon weights; written out here layer by layer."""
    import torch.nn.functional as F

    r, n = 4, 16
    pre_ids, post_ids = torch.tensor([3, 5, 7]), torch.tensor([13, 2])
    video = _tokens(model, n, seed=3)
    _, logits = _feed(model, pre_ids, video, r, post_ids)

    llm, conn = model.llm, model.connector
    emb = llm.get_input_embeddings()
    be = conn.beacon_embed_tokens.weight[0]
    rows, is_b = [], []
    for i in range(n):
        rows.append(video[i]), is_b.append(False)
        if (i + 1) % r == 0:
            rows.append(be), is_b.append(True)
    seq = torch.cat([emb(pre_ids), torch.stack(rows), emb(post_ids)])
    kinds = ["p"] * 3 + ["b" if b else "v" for b in is_b] + ["q"] * 2
    L = len(kinds)
    allowed = torch.zeros(L, L, dtype=torch.bool)
    for i in range(L):
        for j in range(i + 1):
            # the question (and text after it) no longer sees raw video tokens: they were dropped
            allowed[i, j] = not (kinds[i] == "q" and kinds[j] == "v")
    # positions: compact, in the order of what the question's cache holds
    kept = [k for k in range(L) if kinds[k] != "v"]
    pos = torch.arange(L)
    pos_q = torch.tensor([kept.index(k) for k in range(L) if kinds[k] == "q"])
    cfg = llm.config
    H, KV = cfg.num_attention_heads, cfg.num_key_value_heads
    d = cfg.hidden_size // H
    theta = cfg.rope_parameters["rope_theta"]
    inv = 1.0 / theta ** (torch.arange(0, d, 2).float() / d)

    def rot(x, p):
        f = p[:, None].float() * inv[None]
        cos, sin = torch.cat([f, f], -1).cos(), torch.cat([f, f], -1).sin()
        a, b = x.chunk(2, -1)
        return x * cos + torch.cat([-b, a], -1) * sin

    bmask = torch.tensor([k == "b" for k in kinds])
    h = seq.clone()
    with torch.no_grad():
        for li, layer in enumerate(llm.model.layers):
            att, batt = layer.self_attn, conn.layers[li].self_attn
            y = layer.input_layernorm(h)
            q, k, v = att.q_proj(y), att.k_proj(y), att.v_proj(y)
            q[bmask], k[bmask], v[bmask] = batt.beacon_q_proj(y[bmask]), batt.beacon_k_proj(y[bmask]), batt.beacon_v_proj(y[bmask])
            q, k, v = (t.view(L, -1, d).transpose(0, 1) for t in (q, k, v))
            out = torch.zeros(H, L, d)
            # the window and prefix run with their own positions; the question with the compacted ones
            for i in range(L):
                if kinds[i] == "q":
                    cols = [j for j in kept if j <= i]
                    pq, pk = pos_q[[c for c in range(L) if kinds[c] == "q"].index(i)], torch.tensor([kept.index(j) for j in cols])
                else:
                    cols = [j for j in range(i + 1) if allowed[i, j]]
                    pq, pk = pos[i], pos[cols]
                qi = rot(q[:, i:i + 1], pq.view(1))
                kj = rot(k[:, cols], pk).repeat_interleave(H // KV, 0)
                vj = v[:, cols].repeat_interleave(H // KV, 0)
                out[:, i] = F.scaled_dot_product_attention(qi, kj, vj)[:, 0]
            h = h + att.o_proj(out.transpose(0, 1).reshape(L, -1))
            y = layer.post_attention_layernorm(h)
            h = h + layer.mlp(y)
        ref = llm.lm_head(llm.model.norm(h[-1:]))[0]
    assert torch.allclose(logits, ref, atol=1e-4, rtol=1e-4)


def test_kv_cache_after_ten_times_the_frames_grows_only_by_the_beacons(model):
    r = 4
    cfg = model.config
    entry = 2 * cfg.layers * cfg.kv_heads * cfg.head_dim * 4  # key + value, every layer, float32
    pre_ids = torch.tensor([3, 5, 7])
    small, _ = _feed(model, pre_ids, _tokens(model, 2 * 144), r)
    big, _ = _feed(model, pre_ids, _tokens(model, 20 * 144), r)
    grown = big.cache.nbytes() - small.cache.nbytes()
    assert grown == (20 - 2) * 144 // r * entry
    assert big.cache.nbytes() == (3 + 20 * 144 // r) * entry  # prefix + beacons, no raw token
    assert big.windows == 10 and len(big.spans) == 20 * 144 // r


def test_loader_names_missing_extra_and_misshapen_beacon_weights(ckpt, tmp_path):
    from safetensors.torch import load_file, save_file

    from longvid.models.engine import load_model

    def edited(name, fn):
        f = tmp_path / name
        shutil.copytree(ckpt.folder, f)
        index = json.loads((f / "model.safetensors.index.json").read_text())
        states = {p.name: load_file(str(p)) for p in sorted(f.glob("*.safetensors"))}
        fn(states)
        for n, st in states.items():
            save_file(st, str(f / n), metadata={"format": "pt"})
        index["weight_map"] = {k: n for n, st in states.items() for k in st}
        (f / "model.safetensors.index.json").write_text(json.dumps(index))
        return f

    def holder(states, key):
        return next(st for st in states.values() if key in st)

    q = "model.layers.1.self_attn.beacon_q_proj.weight"
    f = edited("missing", lambda s: holder(s, q).pop(q))
    with pytest.raises(ModelLoadError, match=r"missing weights: .*layers\.1\.self_attn\.beacon_q_proj\.weight"):
        load_model(str(f), vision_towers=ckpt.vision_towers, check_memory=False)
    f = edited("extra", lambda s: next(iter(s.values())).update(
        {"model.layers.0.self_attn.beacon_z_proj.weight": torch.zeros(2)}))
    with pytest.raises(ModelLoadError, match=r"unexpected weights: model\.layers\.0\.self_attn\.beacon_z_proj"):
        load_model(str(f), vision_towers=ckpt.vision_towers, check_memory=False)
    e = "model.beacon_embed_tokens.weight"
    f = edited("shape", lambda s: holder(s, e).update({e: torch.zeros(1, 31)}))
    with pytest.raises(ModelLoadError, match=r"misshapen weights: .*beacon_embed_tokens\.weight \(file \[1, 31\], model \[1, 32\]\)"):
        load_model(str(f), vision_towers=ckpt.vision_towers, check_memory=False)


def test_memory_planner_streams_and_refuses_with_numbers(ckpt):
    import torch as t

    from longvid.models.memory import plan_for_config

    raw = json.loads((ckpt.folder / "config.json").read_text())
    raw["mm_vision_tower"] = ckpt.vision_towers[raw["mm_vision_tower"]]  # the tower's config folder
    plan = plan_for_config(raw, "videoxl", dtype=t.float32, available=10 * 2**30)
    entry = 2 * 2 * 2 * 8 * 4  # layers x (k, v) x kv heads x head dim x float32
    assert plan.bytes_per_frame == 144 // 2 * entry  # the smallest listed ratio (2) is the worst case
    tight = plan_for_config(raw, "videoxl", dtype=t.float32,
                            available=plan.weights_bytes + plan.fixed_bytes + 100 * plan.bytes_per_frame)
    assert tight.frames_that_fit == 100
    tight.check(frames=100)
    with pytest.raises(BudgetError, match=r"10000 frames do not fit: .*MiB per frame -> 100 frames fit"):
        tight.check(frames=10_000)
    with pytest.raises(BudgetError, match="the model does not fit"):
        plan_for_config(raw, "videoxl", dtype=t.float32, available=plan.weights_bytes).check()


def test_config_rejects_what_the_release_never_used(ckpt):
    from longvid.models.videoxl.config import VideoXLConfig

    raw = json.loads((ckpt.folder / "config.json").read_text())
    for key, value, msg in (("beacon_attn", "segmentation", "beacon_attn"), ("beacon_pos", "append", "beacon_pos"),
                            ("beacon_stride", 144, "beacon_stride"), ("beacon_param", ["q", "x"], "beacon_param")):
        with pytest.raises(ModelLoadError, match=msg):
            VideoXLConfig.from_dict({**raw, key: value})
    cfg = VideoXLConfig.from_dict(raw)
    assert cfg.pick_ratio(8, 10) == 8 and cfg.pick_ratio(None, 1000) == 2  # adapt: the smallest that reaches
    with pytest.raises(ModelLoadError, match="divide the window"):
        cfg.pick_ratio(7, 10)


def test_cli_ask_with_a_videoxl_folder(ckpt, clip, capsys):
    from longvid.cli import main

    towers = [a for name, path in ckpt.vision_towers.items() for a in ("--vision-tower", f"{name}={path}")]
    rc = main(["ask", clip, "what", "is", "shown", "--model", str(ckpt.folder), *towers, "--num-frames", "3",
               "--json", "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["engine"] == "videoxl" and out["evidence"]


def test_cli_engine_option_sets_the_ratio_and_is_checked_before_loading(ckpt, clip, capsys):
    from longvid.cli import main

    towers = [a for name, path in ckpt.vision_towers.items() for a in ("--vision-tower", f"{name}={path}")]
    base = ["ask", clip, "what", "is", "shown", "--model", str(ckpt.folder), *towers, "--num-frames", "3",
            "--json", "--no-progress"]
    assert main([*base, "--engine-option", "ratio=7"]) == 1
    assert "divide the window" in capsys.readouterr().err
    assert main([*base, "--engine-option", "ratio=4"]) == 0
    assert json.loads(capsys.readouterr().out)["engine"] == "videoxl"
