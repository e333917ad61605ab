"""The one checkpoint loader every model family goes through (``build_model``).

Design decisions (in the spirit of timm's ``build_model_with_cfg``: the family declares, this
module builds):
- Steps, the same for every family: find the folder (a path or a hub id), read ``config.json``,
  pick the family from ``model_type`` (or take the one forced), let it validate the config into
  its typed record, load the vision towers, build the connector, check *every* checkpoint key
  and shape against the LLM (a meta-device instance) plus the connector before a tensor is read
  (the weight-name report: missing, unexpected, misshapen), then load the connector, the LLM
  and the tokenizer. Any failure is a :class:`~longvid.errors.ModelLoadError` that names what to
  fix.
- A tower's weights come from the checkpoint when it carries them (under the tower's
  ``checkpoint_prefix``, as LongVA's does); otherwise from, in order: ``vision_towers[name]``, a
  subfolder of the model folder named after the tower's hub repository
  (``<model>/siglip-so400m-patch14-384``), or the tower's hub id.
- The default dtype is bfloat16 on CUDA and float32 elsewhere (one place: ``default_dtype``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from longvid.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

    from longvid.encoders.vision import VisionEncoder
    from longvid.models.checkpoint import WeightFiles
    from longvid.models.family import ModelFamily, TowerSpec
    from longvid.models.video_llm import VideoLLM

logger = logging.getLogger(__name__)


def default_dtype(device) -> torch.dtype:
    import torch

    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def tower_source(tower: TowerSpec, folder: Path, towers: Mapping[str, str]) -> str:
    """Where a tower comes from: an explicit mapping, a subfolder of the model named after the
    tower's hub repository, else the hub id itself."""
    if tower.name in towers:
        return towers[tower.name]
    local = folder / tower.hub_id.split("/")[-1]
    return str(local) if (local / "config.json").is_file() else tower.hub_id


def load_tower(tower: TowerSpec, folder: Path, weights: WeightFiles, towers: Mapping[str, str], *,
               dtype, device, chunk_size: int) -> VisionEncoder:
    """The tower as a frame encoder, from the checkpoint's own weights or from its own folder."""
    from longvid.encoders import create_encoder

    own = [k for k in weights.keys() if k.startswith(tower.checkpoint_prefix)]
    state = weights.load(own, strip=tower.checkpoint_prefix) if own else None
    source = tower_source(tower, folder, towers)
    try:
        return create_encoder(tower.encoder, model=source, spec=tower.spec, dtype=dtype, device=device,
                              chunk_size=chunk_size, state_dict=state)
    except ModelLoadError as exc:
        if state is not None:
            raise
        raise ModelLoadError(
            f"{exc}. The checkpoint in {folder} does not carry its {tower.spec.kind} encoder: download "
            f"{tower.hub_id} into {folder / tower.hub_id.split('/')[-1]} (or pass "
            f"vision_towers={{{tower.name!r}: DIR}})"
        ) from exc


def build_model(model: str, *, family: str | ModelFamily | None = None, device="cpu", dtype=None,
                vision_towers: Mapping[str, str] | None = None, chunk_size: int = 32) -> VideoLLM:
    """Load a checkpoint (folder or hub id) as its family's :class:`VideoLLM`."""
    from longvid.models.checkpoint import WeightFiles, expected_shapes, load_module_weights, read_config, resolve_model_dir
    from longvid.models.llm import check_checkpoint, llm_config, llm_shapes, load_llm, load_tokenizer
    from longvid.models.registry import as_family
    from longvid.models.video_llm import LoadedParts

    folder = resolve_model_dir(model)
    where = str(folder / "config.json")
    raw = read_config(folder)
    fam = as_family(family, raw, where)
    cfg = fam.parse_config(raw, where=where)
    spec = fam.checkpoint(cfg)
    dtype = dtype or default_dtype(device)
    weights = WeightFiles(folder)
    text_cfg = llm_config(raw, spec.llm.config_class, **spec.llm.overrides)
    towers = dict(vision_towers or {})
    encoders = [load_tower(t, folder, weights, towers, dtype=dtype, device=device, chunk_size=chunk_size)
                for t in spec.towers]
    connector = fam.build_connector(cfg, [e.feature_dim for e in encoders])
    conn_shapes = expected_shapes(connector, spec.connector_prefix)
    check_checkpoint(weights, llm_shapes(text_cfg, spec.llm.model_class),
                     tied=bool(getattr(text_cfg, "tie_word_embeddings", False)),
                     extra_expected=conn_shapes, allowed_prefixes=spec.tower_prefixes)
    connector.to(device=device, dtype=dtype)
    load_module_weights(connector, weights.load(conn_shapes, strip=spec.connector_prefix), where=str(folder))
    llm = load_llm(folder, text_cfg, spec.llm.model_class, dtype=dtype, device=device)
    parts = LoadedParts(cfg, llm, load_tokenizer(folder), connector.eval(), encoders, model)
    logger.info("loaded %s (%s) from %s", fam.name, raw.get("model_type"), folder)
    return fam.build_model(parts)
