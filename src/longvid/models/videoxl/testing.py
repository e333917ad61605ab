"""A tiny random Video-XL checkpoint in the released on-disk layout, for tests and trials.

``make_videoxl(dir)`` writes ``dir/Video_XL_tiny`` (config keys as ``sy1998/Video_XL`` spells
them: LongVA's LLaVA keys plus ``beacon_*``; sharded safetensors with an index holding Qwen2,
``model.mm_projector``, ``model.beacon_embed_tokens``, the per-layer ``beacon_{q,k,v}_proj``
and the CLIP tower under ``model.vision_tower.vision_tower.``; tokenizer files) and a folder
with the CLIP config, and returns a :class:`~longvid.models.testing.TinyCheckpoint`.

Design decisions: sizes as the other tiny checkpoints (LLM hidden 32, 2 layers); the window is
a parameter (the release's 1440 tokens by default) so tests can run many windows on few frames;
weights are seeded (a folder built twice holds the same tensors).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from longvid.models.testing import (CLIP_NAME, TinyCheckpoint, llm_state, longva_config, make_tokenizer, randomize,
                                    save_sharded, tiny_clip_config)
from longvid.models.videoxl.config import DEFAULT_WINDOW

FOLDER = "Video_XL_tiny"


def videoxl_config(vocab_size: int, *, context: int = 8192, window: int = DEFAULT_WINDOW,
                   ratios=(2, 4, 8), beacon_param=("q", "k", "v")) -> dict:
    d = longva_config(vocab_size, context=context)
    d.update({
        "beacon_window": window, "beacon_stride": window, "beacon_attn": "full-coverage",
        "beacon_ratio": list(ratios), "beacon_ratio_mix": "adapt-1024", "beacon_param": list(beacon_param),
        "beacon_embed_init": "eos", "beacon_sink_size": 0, "beacon_attend_prev": True,
        "beacon_pos": "interleave", "beacon_parallel_window": 1, "beacon_accum": True, "beacon_seed": 42,
    })
    return d


def make_videoxl(root: Path, *, window: int = DEFAULT_WINDOW, ratios=(2, 4, 8), context: int = 8192,
                 beacon_param=("q", "k", "v")) -> TinyCheckpoint:
    from transformers import CLIPVisionModel

    from longvid.models.videoxl.config import VideoXLConfig
    from longvid.models.videoxl.model import VideoXLConnector

    root = Path(root)
    folder = root / FOLDER
    folder.mkdir(parents=True)
    tok = make_tokenizer(folder)
    cfg = videoxl_config(len(tok), context=context, window=window, ratios=ratios, beacon_param=beacon_param)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    conn = VideoXLConnector(VideoXLConfig.from_dict(cfg))
    randomize(conn, seed=7)
    torch.manual_seed(8)
    clip = CLIPVisionModel(tiny_clip_config())
    state = llm_state(cfg)
    state.update({"model." + k: v.contiguous() for k, v in conn.state_dict().items()})
    state.update({"model.vision_tower.vision_tower.vision_model." + k: v.contiguous()
                  for k, v in clip.state_dict().items()})
    save_sharded(folder, state, shards=3)
    cfg_dir = root / "clip_config"
    tiny_clip_config().save_pretrained(str(cfg_dir))
    return TinyCheckpoint(folder, {CLIP_NAME: str(cfg_dir)})
