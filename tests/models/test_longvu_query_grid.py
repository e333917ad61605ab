"""A LongVU config whose aggregator queries (``query_num_list``) differ from the final token grid
(``image_token_len``), as an early LongVU_Llama3_2_1B config had (576 vs 144): the released code
resizes the aggregated queries bilinearly (align_corners False) to the final grid before the
projector, and to the low grid straight from the query grid. Reference computed here."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from longvid.models.longvu.config import LongVUConfig


def ref_resize(q: torch.Tensor, side: int, out: int) -> torch.Tensor:
    """(B, side*side, C) queries -> (B, out*out, C), as the released code interpolates them."""
    b, _, c = q.shape
    x = q.permute(0, 2, 1).reshape(b, c, side, side)
    x = F.interpolate(x.float(), size=(out, out), mode="bilinear", align_corners=False)
    return x.permute(0, 2, 3, 1).reshape(b, out * out, c)


def base_config() -> dict:
    return {"model_type": "cambrian_qwen", "hidden_size": 32, "mm_projector_type": "sva",
            "mm_vision_tower_aux_list": ["siglip/CLIP-ViT-SO400M-14-384", "facebook/dinov2-giant-res378"],
            "mm_vision_tower_aux_token_len_list": [576, 576], "query_num_list": [576],
            "image_token_len": 144, "vision_hidden_size": 32, "highres": True, "lowres_token": 8}


def test_config_with_576_queries_and_144_tokens_loads():
    cfg = LongVUConfig.from_dict(base_config())
    assert (cfg.query_side, cfg.final_side) == (24, 12)
    with pytest.raises(Exception, match="square"):
        LongVUConfig.from_dict({**base_config(), "image_token_len": 140})


@pytest.fixture(scope="module")
def wide_query_model(tmp_path_factory):
    """The tiny LongVU checkpoint rewritten with 24x24 queries (windows of one cell: no position
    embeddings in the aggregator, as the released code builds it)."""
    pytest.importorskip("transformers")
    from safetensors.torch import load_file

    from longvid.models.engine import load_model
    from longvid.models.testing import make_longvu, save_sharded

    ckpt = make_longvu(tmp_path_factory.mktemp("q576"))
    folder = ckpt.folder
    cfg = json.loads((folder / "config.json").read_text())
    cfg["query_num_list"] = [576]
    (folder / "config.json").write_text(json.dumps(cfg))
    state = {}
    for f in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(f)))
        f.unlink()
    save_sharded(folder, {k: v for k, v in state.items() if ".pos_embed_" not in k})
    return load_model(str(folder), vision_towers=ckpt.vision_towers), ckpt


def test_queries_resized_to_the_final_grid(wide_query_model, short_video):
    from longvid.io.probe import probe
    from longvid.io.sampling import SamplingConfig, sample_frames

    model, _ = wide_query_model
    assert model.token_grid == (12, 12)
    info = probe(str(short_video))
    scfg = SamplingConfig(num_frames=4, size=model.sampling_size, resize="pad", pad_rgb=model.encoders[0].spec.pad_rgb)
    frames = model.frame_tokens(sample_frames(str(short_video), scfg, info=info), num_frames=4, budget=10_000,
                                content_wh=info.display_size)
    agg = frames.aggregated
    assert agg.shape[:2] == (4, 576)
    with torch.inference_mode():
        want = model.connector.mm_projector(ref_resize(agg, 24, 12))
        low = model.connector.mm_projector(ref_resize(agg, 24, 8))
    assert frames.features.grid == (12, 12)
    assert torch.allclose(frames.features.features, want, atol=1e-5)
    # the released layout: all four frames high (4 < M // 144); 160x96 unpadded as trained keeps
    # 12 rows x 8 columns, each row ending in a newline
    q = model.embed(torch.tensor([1, 2, 3]))
    vt = model.compress(frames, budget=10_000, query_embedding=q, question="?")
    assert len(vt) == 4 * 12 * (8 + 1)
    # in the band every frame starts low: its 8x8 tokens come straight from the 24x24 queries
    m = 4 * 64 + 1
    vt = model.compress(frames, budget=m, query_embedding=q, question="?")
    lowtok = (vt.cell_grids[:, 0] == 8) & (vt.cells >= 0)
    assert bool(lowtok.any())
    pos = vt.frame_indices[lowtok]
    rows = torch.searchsorted(frames.features.frame_indices.cpu(), pos)
    assert torch.allclose(vt.tokens[lowtok], low[rows, vt.cells[lowtok]], atol=1e-5)
