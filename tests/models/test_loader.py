"""Loading: missing, extra and misshapen weights, absent folders and hub ids, bad configs."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from longvid.errors import ModelLoadError


def copy_ckpt(src, dst):
    shutil.copytree(src, dst)
    return dst


def edit_weights(folder, fn):
    """Apply ``fn(state)`` to every shard, rewriting the index to match."""
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    states = {f.name: load_file(str(f)) for f in sorted(folder.glob("*.safetensors"))}
    fn(states)
    for name, st in states.items():
        save_file(st, str(folder / name), metadata={"format": "pt"})
    index["weight_map"] = {k: n for n, st in states.items() for k in st}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


def load(folder, towers):
    from longvid.models.engine import load_model

    return load_model(str(folder), vision_towers=towers, check_memory=False)


def first_with(states, key):
    return next(st for st in states.values() if key in st)


def test_missing_weight_is_named(longvu_dir, tmp_path):
    src, towers = longvu_dir.folder, longvu_dir.vision_towers
    f = copy_ckpt(src, tmp_path / "m")
    key = "model.vision_sampler_0.layers.1.cross_attn.k_proj_1.1.weight"
    edit_weights(f, lambda s: first_with(s, key).pop(key))
    with pytest.raises(ModelLoadError, match=r"missing weights: .*k_proj_1\.1\.weight"):
        load(f, towers)


def test_extra_weight_is_named(longvu_dir, tmp_path):
    src, towers = longvu_dir.folder, longvu_dir.vision_towers
    f = copy_ckpt(src, tmp_path / "m")
    edit_weights(f, lambda s: next(iter(s.values())).update({"model.vision_sampler_1.foo": torch.zeros(2)}))
    with pytest.raises(ModelLoadError, match=r"unexpected weights: model\.vision_sampler_1\.foo"):
        load(f, towers)


def test_misshapen_weights_are_named(longvu_dir, tmp_path):
    src, towers = longvu_dir.folder, longvu_dir.vision_towers
    f = copy_ckpt(src, tmp_path / "m")

    def shrink(s):
        first_with(s, "model.image_newline")["model.image_newline"] = torch.zeros(31)
        first_with(s, "model.layers.0.mlp.up_proj.weight")["model.layers.0.mlp.up_proj.weight"] = torch.zeros(5, 32)

    edit_weights(f, shrink)
    with pytest.raises(ModelLoadError, match=r"misshapen weights: .*image_newline \(file \[31\], model \[32\]\)") as e:
        load(f, towers)
    assert "model.layers.0.mlp.up_proj.weight (file [5, 32], model [64, 32])" in str(e.value)


def test_llm_weight_missing_in_longva(tmp_path):
    from longvid.models.testing import make_longva

    ckpt = make_longva(tmp_path)
    folder, towers = ckpt.folder, ckpt.vision_towers
    edit_weights(folder, lambda s: first_with(s, "lm_head.weight").pop("lm_head.weight"))
    with pytest.raises(ModelLoadError, match=r"missing weights: lm_head\.weight"):
        load(folder, towers)


def test_encoder_weight_missing_in_longva(tmp_path):
    from longvid.models.testing import make_longva

    ckpt = make_longva(tmp_path)
    folder, towers = ckpt.folder, ckpt.vision_towers
    key = "model.vision_tower.vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight"
    edit_weights(folder, lambda s: first_with(s, key).pop(key))
    with pytest.raises(ModelLoadError, match=r"clip encoder .* incomplete.*fc1\.weight"):
        load(folder, towers)


def test_absent_folder_and_offline_hub_id(tmp_path):
    from longvid.models.checkpoint import resolve_model_dir

    with pytest.raises(ModelLoadError, match="does not exist.*config.json.*safetensors"):
        resolve_model_dir(str(tmp_path / "nope" / "LongVU"))
    with pytest.raises(ModelLoadError, match=r"huggingface-cli download Vision-CAIR/LongVU_Qwen2_7B --local-dir"):
        resolve_model_dir("Vision-CAIR/LongVU_Qwen2_7B", local_files_only=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="has no config.json"):
        resolve_model_dir(str(tmp_path / "empty"))


def test_folder_without_weights(longvu_dir, tmp_path):
    src, towers = longvu_dir.folder, longvu_dir.vision_towers
    f = copy_ckpt(src, tmp_path / "m")
    for p in f.glob("*.safetensors"):
        p.unlink()
    with pytest.raises(ModelLoadError, match="lists weight files that are not there|no \\*.safetensors"):
        load(f, towers)


def test_missing_encoder_folder_names_it(longvu_dir):
    src, towers = longvu_dir.folder, longvu_dir.vision_towers
    bad = dict(towers)
    bad["facebook/dinov2-giant-res378"] = "/nonexistent/dinov2-giant"
    with pytest.raises(ModelLoadError, match="dinov2-giant"):
        load(src, bad)


@pytest.mark.parametrize("change, message", [
    ({"model_type": "qwen2"}, "'qwen2' is not a model of any registered family"),
    ({"mm_projector_type": "mlp2x_gelu"}, "mm_projector_type"),
    ({"connector_only": False}, "connector_only"),
    ({"mm_vision_tower_aux_list": ["x/unknown"]}, "unknown encoders"),
    ({"query_num_list": [140]}, "must be squares"),
])
def test_bad_longvu_config(longvu_dir, tmp_path, change, message):
    src, towers = longvu_dir.folder, longvu_dir.vision_towers
    f = copy_ckpt(src, tmp_path / "m")
    cfg = json.loads((f / "config.json").read_text())
    cfg.update(change)
    (f / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match=message):
        load(f, towers)


def test_family_detection():
    from longvid.models.registry import family_for_config

    assert family_for_config({"model_type": "cambrian_llama"}).name == "longvu"
    assert family_for_config({"model_type": "llava_qwen"}).name == "longva"
    with pytest.raises(ModelLoadError, match="known model types: cambrian_llama, cambrian_qwen, llava, llava_onevision, llava_qwen, qwen2_5_vl"):
        family_for_config({"model_type": "bert"}, "x")


def test_family_registry():
    import longvid.models
    from longvid.models.family import ModelFamily

    assert longvid.models.list_families() == ["llama_vid", "llava_onevision", "longva", "longvu", "qwen2_5_vl", "qwen2_vl", "qwen3_vl", "videoxl"]
    for name in longvid.models.list_families():
        fam = longvid.models.create_family(name)
        assert isinstance(fam, ModelFamily) and fam.name == name
        assert longvid.models.get_family(name) is type(fam)
    claimed = [t for n in longvid.models.list_families() for t in longvid.models.get_family(n).model_types]
    assert sorted(claimed) == ["cambrian_llama", "cambrian_qwen", "llava", "llava_onevision", "llava_qwen", "llava_qwen", "qwen2_5_vl", "qwen2_vl", "qwen3_vl"]
    with pytest.raises(KeyError, match="longva, longvu"):
        longvid.models.get_family("llama-vid")


def test_forced_family_must_match_the_config(longvu_dir):
    from longvid.models.engine import load_model

    with pytest.raises(ModelLoadError, match="'cambrian_qwen' is not a LongVA model"):
        load_model(str(longvu_dir.folder), family="longva", vision_towers=longvu_dir.vision_towers,
                   check_memory=False)


def test_encoders_found_next_to_the_checkpoint(longvu_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    src, towers = longvu_dir.folder, longvu_dir.vision_towers
    f = copy_ckpt(src, tmp_path / "m")
    with pytest.raises(ModelLoadError, match=r"download google/siglip-so400m-patch14-384 into .*m/siglip-so400m-patch14-384"):
        load(f, {})
    shutil.copytree(towers["siglip/CLIP-ViT-SO400M-14-384"], f / "siglip-so400m-patch14-384")
    shutil.copytree(towers["facebook/dinov2-giant-res378"], f / "dinov2-giant")
    m = load(f, {})
    assert [e.spec.kind for e in m.encoders] == ["siglip", "dinov2"]


def test_hub_id_offline_names_what_to_put_where(monkeypatch):
    import huggingface_hub.constants

    from longvid.models.engine import load_engine

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match=r"lmms-lab/LongVA-7B.*--local-dir <DIR>.*config\.json, the \*\.safetensors"):
        load_engine("lmms-lab/LongVA-7B")
