"""The llama_vid family: a tiny checkpoint in the released layout, loaded by the public loader,
answering about a generated video with two traceable tokens per frame."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from longvid.errors import ModelLoadError
from longvid.models import list_families, load_engine
from longvid.models.llama_vid.cache import FeatureCache
from longvid.models.llama_vid.testing import make_llama_vid
from longvid.models.registry import family_for_config
from longvid.synth.testvideo import make_video


def engine(folder, cache, **kw):
    from longvid.models.generate import GenerationConfig

    eng = load_engine(str(folder), check_memory=False, generation=GenerationConfig(max_new_tokens=4, do_sample=False), **kw)
    eng.model.feature_cache = FeatureCache(cache)
    return eng


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_llama_vid(tmp_path_factory.mktemp("llama_vid") / "model")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    d = tmp_path_factory.mktemp("lv_video")
    return make_video(d / "v.mp4", duration_s=3.0, fps=5, size=(64, 48),
                      scenes=((0.0, (200, 30, 30), None), (1.5, (30, 30, 200), None)),
                      subtitles=[(0.4, 0.9, "a red square"), (2.2, 2.8, "blue cat")])


def test_released_layout_on_disk(ckpt):
    folder = ckpt.folder
    raw = json.loads((folder / "config.json").read_text())
    assert raw["model_type"] == "llava" and raw["bert_type"] == "qformer_pretrain"
    assert raw["num_query"] == 32 and raw["compress_type"] == "mean" and raw["mm_projector_type"] == "mlp2x_gelu"
    assert raw["rope_scaling"] == {"type": "linear", "factor": 16.0}
    assert raw["mm_vision_tower"].endswith("eva_vit_g.pth") and "image_processor" in raw
    keys = set(json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"])
    for k in ("model.vlm_att_query", "model.vlm_att_ln.weight", "model.vlm_att_projector.weight",
              "model.vlm_att_key_projector.weight", "model.vlm_att_val_projector.weight",
              "model.mm_projector.0.weight", "model.mm_projector.2.weight",
              "model.vlm_att_encoder.bert.embeddings.word_embeddings.weight",
              "model.vlm_att_encoder.bert.encoder.layer.0.crossattention.self.key.weight",
              "model.vlm_att_encoder.bert.encoder.layer.1.output_query.LayerNorm.weight",
              "model.vision_tower.vision_tower.blocks.0.attn.q_bias", "model.embed_tokens.weight", "lm_head.weight"):
        assert k in keys, k
    # cross-attention every other layer, as BLIP-2's Q-Former
    assert not any(k.startswith("model.vlm_att_encoder.bert.encoder.layer.1.crossattention") for k in keys)
    assert (folder / "tokenizer.json").is_file() and (folder / "bert-base-uncased" / "vocab.txt").is_file()


def test_family_is_registered_and_picked_from_config(ckpt):
    assert "llama_vid" in list_families()
    raw = json.loads((ckpt.folder / "config.json").read_text())
    assert family_for_config(raw).name == "llama_vid"
    with pytest.raises(ModelLoadError, match="not LLaMA-VID"):
        family_for_config(raw).parse_config({k: v for k, v in raw.items() if k != "bert_type"})


def test_end_to_end_two_traceable_tokens_per_frame(ckpt, video, tmp_path):
    eng = engine(ckpt.folder, tmp_path)
    assert eng.model.family == "llama_vid"
    r = eng.run(str(video), "what is in the video")
    assert r.new_tokens >= 1
    vt = r.visual_tokens
    assert len(vt) == 2 * 3  # 1 fps over 3 s: frames at 0, 1, 2 s, context + content each
    assert vt.frame_indices.tolist() == [0, 0, 1, 1, 2, 2]
    assert vt.timestamps_s.tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0, 2.0, 2.0])
    assert vt.cells.tolist() == [-1] * 6  # both tokens summarise their frame
    assert vt.tokens.shape[1] == 32  # the LLM width
    assert {e.extra["frame_index"] for e in r.answer.evidence} == {0, 1, 2}


def test_grid_content_tokens_carry_their_cells(tmp_path, video):
    ck = make_llama_vid(tmp_path / "grid", compress_type="grid:2")
    vt = engine(ck.folder, tmp_path / "c").run(str(video), "what color").visual_tokens
    assert len(vt) == 3 * 5  # context + 2x2 pooled patches per frame
    assert vt.cells.tolist()[:5] == [-1, 0, 1, 2, 3]
    assert vt.cell_grids[1].tolist() == [2, 2]


def test_second_question_reuses_the_cached_frames(ckpt, video, tmp_path):
    eng = engine(ckpt.folder, tmp_path)
    a = eng.run(str(video), "what is in the video").visual_tokens
    calls = eng.model.encoder.calls
    assert calls >= 1
    b = eng.run(str(video), "which color is the square").visual_tokens
    assert eng.model.encoder.calls == calls  # no EVA pass for the second question
    assert "from the feature cache" in b.stats[0].note
    assert torch.allclose(a.tokens[1::2], b.tokens[1::2])  # content tokens do not depend on the question
    assert not torch.allclose(a.tokens[0::2], b.tokens[0::2])  # context tokens do
    # a fresh engine on the same cache folder: still no encoding
    other = engine(ckpt.folder, tmp_path)
    other.run(str(video), "how many frames")
    assert other.model.encoder.calls == 0


def reference_context_token(state: dict, cfg, eva_tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """LLaMA-VID's context token written out from the weights: the BLIP-2 Q-Former (queries then
    text, BERT post-norm layers, cross-attention on even layers), projected queries attending over
    the patches, averaged, projected to the LLM."""
    q = cfg.qformer
    p = "model.vlm_att_encoder.bert."

    def lin(x, name):
        return x @ state[name + ".weight"].T + state[name + ".bias"]

    def ln(x, name, eps):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], state[name + ".weight"], state[name + ".bias"], eps)

    def attend(x, ctx, name):
        h, d = q.num_heads, q.head_dim
        qq, kk, vv = (lin(z, f"{name}.self.{n}").reshape(z.shape[0], -1, h, d).transpose(1, 2)
                      for z, n in ((x, "query"), (ctx, "key"), (ctx, "value")))
        a = torch.softmax(qq @ kk.transpose(-1, -2) / math.sqrt(d), -1) @ vv
        return ln(lin(a.transpose(1, 2).reshape(x.shape), f"{name}.output.dense") + x, f"{name}.output.LayerNorm",
                  q.layer_norm_eps)

    def ffn(x, inter, out):
        return ln(lin(torch.nn.functional.gelu(lin(x, inter)), out + ".dense") + x, out + ".LayerNorm",
                  q.layer_norm_eps)

    image = ln(eva_tokens, "model.vlm_att_ln", 1e-5)  # BLIP-2's ln_vision over all 1 + N tokens
    text = state[p + "embeddings.word_embeddings.weight"][ids] + state[p + "embeddings.position_embeddings.weight"][:ids.numel()]
    x = torch.cat([state["model.vlm_att_query"][0], text])[None]
    x = ln(x, p + "embeddings.LayerNorm", q.layer_norm_eps)
    nq = cfg.num_query
    for i in range(q.num_layers):
        pre = f"{p}encoder.layer.{i}."
        x = attend(x, x, pre + "attention")
        qs, ts = x[:, :nq], x[:, nq:]
        if i % q.cross_attention_freq == 0:
            qs = attend(qs, image[None], pre + "crossattention")
        x = torch.cat([ffn(qs, pre + "intermediate_query.dense", pre + "output_query"),
                       ffn(ts, pre + "intermediate.dense", pre + "output")], 1)
    text_q = lin(x[0, :nq], "model.vlm_att_projector")  # (32, 1408-wide)
    patches = eva_tokens[1:]
    keys = lin(patches, "model.vlm_att_key_projector")
    weights = torch.softmax(text_q @ keys.T / math.sqrt(patches.shape[-1]), -1)
    return lin((weights @ patches).mean(0), "model.vlm_att_val_projector")


def test_context_token_matches_a_direct_computation(ckpt, video, tmp_path):
    from safetensors.torch import load_file

    eng = engine(ckpt.folder, tmp_path)
    question = "where is the red square"
    vt = eng.run(str(video), question).visual_tokens
    state = {}
    for f in sorted(ckpt.folder.glob("*.safetensors")):
        state.update(load_file(str(f)))
    cfg = eng.model.config
    feats = eng.model.frame_features(str(video), fps=1.0, num_frames=None, max_frames=None)
    ids = eng.model.qformer_tokenizer(question, return_tensors="pt")["input_ids"][0]
    for t in range(len(feats.tokens)):
        ref = reference_context_token(state, cfg, feats.tokens[t].float(), ids)
        assert torch.allclose(vt.tokens[2 * t], ref, atol=1e-4), t
        # content token: the mean patch through the 2-layer MLP
        mean = feats.tokens[t, 1:].mean(0)
        h = torch.nn.functional.gelu(mean @ state["model.mm_projector.0.weight"].T + state["model.mm_projector.0.bias"])
        content = h @ state["model.mm_projector.2.weight"].T + state["model.mm_projector.2.bias"]
        assert torch.allclose(vt.tokens[2 * t + 1], content, atol=1e-4)


def test_linear_rope_scaling_x16_is_honoured(ckpt):
    m = engine(ckpt.folder, None).model
    assert m.config.context_length == 256 * 16  # positions stretched 16 times
    llm = m.llm
    head = llm.config.hidden_size // llm.config.num_attention_heads
    x = torch.zeros(1, 3, head)
    pos = torch.tensor([[0, 16, 160]])
    cos, _ = llm.model.rotary_emb(x, pos)
    inv = 1.0 / (10000.0 ** (torch.arange(0, head, 2).float() / head))
    ang = (pos[0, :, None].float() / 16.0) * inv  # linear scaling: position / factor
    assert torch.allclose(cos[0], torch.cat([ang, ang], -1).cos(), atol=1e-5)


def test_subtitles_follow_their_frames_tokens(ckpt, video, tmp_path):
    from longvid.models.llama_vid.model import LlamaVidEngine, interleave
    from longvid.models.prompt import build_prompt

    base = engine(ckpt.folder, tmp_path)
    eng = LlamaVidEngine(base.model, config=base.config)
    r = eng.run(str(video), "what is in the video")
    vt = r.visual_tokens
    m = eng.model
    texts = m.frame_texts(str(video), vt)
    assert texts == {0: "a red square", 2: "blue cat"}
    parts = build_prompt(m.tokenizer, "what is in the video")
    embeds, placed = interleave(m, parts, vt, texts, r.budget)
    emb = m.llm.get_input_embeddings()
    sub0 = m.tokenizer(" a red square", add_special_tokens=False)["input_ids"]
    sub2 = m.tokenizer(" blue cat", add_special_tokens=False)["input_ids"]
    assert placed == len(sub0) + len(sub2)
    assert r.text_tokens == parts.num_text_tokens + placed
    p = parts.before_ids.numel()
    seq = embeds[0]
    assert torch.allclose(seq[p:p + 2], vt.tokens[0:2])  # frame 0's context and content
    assert torch.allclose(seq[p + 2:p + 2 + len(sub0)], emb(torch.tensor(sub0)))  # then its subtitle
    q = p + 2 + len(sub0)
    assert torch.allclose(seq[q:q + 4], vt.tokens[2:6])  # frames 1 and 2
    assert torch.allclose(seq[q + 4:q + 4 + len(sub2)], emb(torch.tensor(sub2)))
    assert seq.shape[0] == parts.num_text_tokens + len(vt) + placed


def test_over_budget_frames_are_subsampled_evenly(ckpt, video, tmp_path):
    m = engine(ckpt.folder, tmp_path).model
    vt = m.video_tokens(str(video), question="what", budget=4, fps=1.0, num_frames=None, max_frames=None)
    assert len(vt) == 4 and vt.frame_indices.tolist() == [0, 0, 2, 2]
    assert "2 of 3 frames" in vt.stats[1].note


def test_tower_from_eva_vit_g_pth_beside_the_model(tmp_path, video):
    a = make_llama_vid(tmp_path / "inside")
    b = make_llama_vid(tmp_path / "beside", tower_in_checkpoint=False)
    assert (b.folder / "eva_vit_g.pth").is_file()
    ta = engine(a.folder, tmp_path / "ca").run(str(video), "what").visual_tokens
    tb = engine(b.folder, tmp_path / "cb").run(str(video), "what").visual_tokens
    assert torch.allclose(ta.tokens, tb.tokens)


def rewrite(folder, edit):
    from safetensors.torch import load_file, save_file

    for f in sorted(folder.glob("*.safetensors")):
        state = load_file(str(f))
        edit(state)
        save_file(state, str(f), metadata={"format": "pt"})


def test_missing_extra_and_misshapen_weights_are_named(tmp_path):
    ck = make_llama_vid(tmp_path / "m")
    key = "model.vlm_att_encoder.bert.encoder.layer.0.crossattention.self.key.weight"

    def edit(state):
        state.pop("model.vlm_att_key_projector.bias", None)
        if key in state:
            state[key] = torch.zeros(3, 3)
        if "model.embed_tokens.weight" in state:
            state["model.vlm_att_extra.weight"] = torch.zeros(2)

    rewrite(ck.folder, edit)
    with pytest.raises(ModelLoadError) as e:
        load_engine(str(ck.folder), check_memory=False)
    msg = str(e.value)
    assert "model.vlm_att_key_projector.bias" in msg and key in msg and "model.vlm_att_extra.weight" in msg


def test_missing_tower_weight_is_named(tmp_path):
    ck = make_llama_vid(tmp_path / "m")
    rewrite(ck.folder, lambda s: s.pop("model.vision_tower.vision_tower.blocks.1.attn.v_bias", None))
    with pytest.raises(ModelLoadError, match=r"blocks\.1\.attn\.v_bias"):
        load_engine(str(ck.folder), check_memory=False)


def test_memory_profile_two_tokens_a_frame_and_the_held_eva_features(ckpt):
    from longvid.models.registry import create_family

    fam = create_family("llama_vid")
    cfg = fam.parse_config(json.loads((ckpt.folder / "config.json").read_text()))
    prof = fam.memory_profile(cfg)
    assert prof.sequence_grows and prof.held_tokens_per_frame == 2
    eva_tokens = cfg.eva.grid ** 2 + 1
    # held bytes per frame = held_tokens * held_width: the 2 LLM tokens plus the frame's EVA tokens
    assert prof.held_tokens_per_frame * prof.held_width >= eva_tokens * cfg.eva.width + 2 * cfg.hidden_size
    assert prof.context_length == 256 * 16 and prof.encoder_tokens == eva_tokens


@pytest.mark.parametrize("change, match", [
    ({"compress_type": None}, "no compress_type"),
    ({"compress_type": "max"}, "compress_type 'max'"),
    ({"bert_type": "raw_bert"}, "only the Q-Former"),
    ({"mm_vision_tower": "openai/clip-vit-large-patch14"}, "EVA-ViT-G"),
    ({"rope_scaling": {"type": "dynamic", "factor": 2.0}}, "rope_scaling type 'dynamic'"),
])
def test_config_refuses_what_the_releases_never_used(ckpt, change, match):
    from longvid.models.llama_vid.config import LlamaVidConfig

    raw = {**json.loads((ckpt.folder / "config.json").read_text()), **change}
    with pytest.raises(ModelLoadError, match=match):
        LlamaVidConfig.from_dict(raw)
