"""LLaMA-VID's configuration, read from a released ``config.json`` (``model_type: llava``).

Design decisions:
- Keys as the releases spell them: ``mm_vision_tower`` (the path of ``eva_vit_g.pth``),
  ``image_processor``, ``mm_hidden_size`` (1408), ``mm_projector_type`` (``mlp2x_gelu``),
  ``mm_vision_select_feature`` (``patch``), ``bert_type`` (``qformer_pretrain``, optionally with
  ``_freeze``/``_freeze_all`` and a ``:layer:N`` cut), ``num_query`` (32), ``compress_type``
  (``mean`` or ``grid:N``), ``max_position_embeddings`` and ``rope_scaling`` (linear x16 in the
  long-video release).
- ``model_type`` is ``llava``, which LLaVA-1.5 shares; a ``llava`` config without ``bert_type``
  is rejected with a message saying it is not a LLaMA-VID model.
- The Q-Former's BERT and the EVA tower have no keys in the releases (the original builds them
  from ``bert-base-uncased`` and fixed EVA-G numbers). Their sizes default to those; the
  optional keys ``longvid_qformer`` and ``longvid_eva_vit`` (longvid's own, never in a release)
  let the tiny test checkpoints shrink them.
- The context is ``max_position_embeddings`` times the linear RoPE factor: the long-video model
  was trained with its positions stretched 16 times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from longvid.compress.budget import RESERVE_TOKENS
from longvid.encoders.eva_vit import EvaConfig
from longvid.errors import ModelLoadError
from longvid.models.family import LLMSpec, TowerSpec, model_type_of

LLM_FAMILIES = {"llava": LLMSpec("LlamaConfig", "LlamaForCausalLM")}
TOWER_PREFIX = "model.vision_tower.vision_tower."  # where a checkpoint carrying EVA keeps it
TOWER_NAME = "eva_vit_g"  # the key of vision_towers={...} / --vision-tower
BERT_FOLDER = "bert-base-uncased"  # the Q-Former's tokenizer: a subfolder of the model, else this hub id
PROJECTOR_DEPTHS = {"linear": 1, "mlp2x_gelu": 2}
PRETRAINED_QFORMER_WIDTH = 1408  # 'pretrain' Q-Formers read EVA-G features whatever mm_hidden_size says


@dataclass(frozen=True)
class QFormerConfig:
    """The BERT of the Q-Former: bert-base-uncased plus [DEC], cross-attention every other layer."""

    vocab_size: int = 30523
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_positions: int = 512
    layer_norm_eps: float = 1e-12
    cross_attention_freq: int = 2
    encoder_width: int = 1408  # the features the cross-attention reads

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass(frozen=True)
class EvaTowerSpec:
    """How LLaMA-VID uses EVA-ViT-G, in the place a :class:`TowerSpec` keeps its encoder spec."""

    eva: EvaConfig
    kind: str = TOWER_NAME

    def tower_size(self) -> tuple[int, int]:
        """(parameters, width) of the tower, for the memory planner."""
        e = self.eva
        block = 4 * e.width + 3 * e.width * e.width + 2 * e.width + e.width * e.width + e.width \
            + 2 * e.width * e.mlp_width + e.mlp_width + e.width
        stem = 3 * e.patch_size ** 2 * e.width + e.width + e.width + (e.grid ** 2 + 1) * e.width
        return stem + e.depth * block, e.width


@dataclass(frozen=True)
class LlamaVidConfig:
    hidden_size: int  # LLM width
    vision_tower: str  # mm_vision_tower as written (a path of eva_vit_g.pth in the releases)
    mm_hidden_size: int = 1408
    projector_depth: int = 2  # mlp2x_gelu
    bert_type: str = "qformer_pretrain"
    num_query: int = 32
    compress_type: str = "mean"
    context_length: int = 4096
    rope_factor: float = 1.0
    reserve_tokens: int = RESERVE_TOKENS
    qformer: QFormerConfig = field(default_factory=QFormerConfig)
    eva: EvaConfig = field(default_factory=EvaConfig)
    folder: str | None = None  # the model folder, where its EVA and BERT files may sit

    @property
    def llm(self) -> LLMSpec:
        return LLM_FAMILIES["llava"]

    @property
    def pretrained_qformer(self) -> bool:
        return "pretrain" in self.bert_type

    @property
    def att_feat_size(self) -> int:
        """Width of the features the Q-Former reads (EVA-G's for a pretrained BLIP-2 Q-Former)."""
        return self.eva.width if self.pretrained_qformer else self.mm_hidden_size

    @property
    def content_grid(self) -> int | None:
        """N of ``grid:N``; None for ``mean``."""
        if self.compress_type and self.compress_type.startswith("grid:"):
            return int(self.compress_type.split(":")[-1])
        return None

    @property
    def content_side(self) -> int | None:
        """Side of the pooled content grid: ``g // (g // N)`` as the original's stride rounds it."""
        n = self.content_grid
        return None if n is None else self.eva.grid // (self.eva.grid // n)

    @property
    def tokens_per_frame(self) -> int:
        """One context token plus the content tokens (1 for ``mean``, side*side for ``grid:N``)."""
        s = self.content_side
        return 1 + (s * s if s else 1)

    def tower(self) -> TowerSpec:
        """EVA-ViT-G; its weights: the checkpoint's, else ``<model>/eva_vit_g.pth``, else ``mm_vision_tower``."""
        source = self.vision_tower
        if self.folder and (Path(self.folder) / "eva_vit_g.pth").is_file():
            source = str(Path(self.folder) / "eva_vit_g.pth")
        return TowerSpec(TOWER_NAME, "eva_vit_g", source, EvaTowerSpec(self.eva), TOWER_PREFIX)

    @classmethod
    def from_dict(cls, cfg: dict, *, where: str = "config.json") -> LlamaVidConfig:
        def bad(msg: str) -> ModelLoadError:
            return ModelLoadError(f"{where}: {msg}")

        model_type_of(cfg, LLM_FAMILIES, "LLaMA-VID", where=where)
        bert = cfg.get("bert_type")
        if not bert:
            raise bad("a 'llava' config without bert_type is a LLaVA model, not LLaMA-VID (no Q-Former)")
        if "qformer" not in bert:
            raise bad(f"bert_type {bert!r} is not supported: only the Q-Former ('qformer...') is implemented")
        tower = cfg.get("mm_vision_tower")
        if not tower or "eva" not in str(tower).lower():
            raise bad(f"mm_vision_tower {tower!r}: only the EVA-ViT-G tower of the releases is supported")
        ptype = cfg.get("mm_projector_type", "linear")
        if ptype not in PROJECTOR_DEPTHS:
            raise bad(f"mm_projector_type {ptype!r} is not supported; known: {sorted(PROJECTOR_DEPTHS)}")
        if cfg.get("mm_vision_select_feature", "patch") != "patch":
            raise bad("only mm_vision_select_feature='patch' is supported")
        compress = cfg.get("compress_type")
        if compress is None:  # the original then keeps all 256 patches; no video release does
            raise bad("no compress_type: LLaMA-VID's video releases write 'mean' (or 'grid:N'); add it")
        if compress != "mean" and not str(compress).startswith("grid:"):
            raise bad(f"compress_type {compress!r} is not supported; known: 'mean', 'grid:N'")
        eva = EvaConfig(**cfg.get("longvid_eva_vit", {}))
        qf_raw = dict(cfg.get("longvid_qformer", {}))
        if "layer" in bert:  # 'qformer...:layer:N' keeps the first N BERT layers
            qf_raw["num_layers"] = int(bert.split(":")[-1])
        mm_hidden = int(cfg.get("mm_hidden_size", eva.width))
        att = eva.width if "pretrain" in bert else mm_hidden
        qformer = QFormerConfig(**{"encoder_width": att, **qf_raw})
        rope = cfg.get("rope_scaling") or {}
        kind = rope.get("type", rope.get("rope_type"))
        factor = float(rope.get("factor", 1.0)) if kind == "linear" else 1.0
        if rope and kind not in ("linear", None):
            raise bad(f"rope_scaling type {kind!r} is not one LLaMA-VID released; expected 'linear'")
        out = cls(
            hidden_size=int(cfg["hidden_size"]), vision_tower=str(tower), mm_hidden_size=mm_hidden,
            projector_depth=PROJECTOR_DEPTHS[ptype], bert_type=str(bert), num_query=int(cfg.get("num_query", 32)),
            compress_type=compress, context_length=int(int(cfg.get("max_position_embeddings", 4096)) * factor),
            rope_factor=factor, qformer=qformer, eva=eva, folder=str(Path(where).parent) if where.endswith(".json") else None,
        )
        g = out.content_grid
        if g is not None and not 1 < g <= eva.grid:
            raise bad(f"compress_type {compress!r}: the grid must be between 2 and the {eva.grid} patches a side")
        if mm_hidden != eva.width:
            raise bad(f"mm_hidden_size {mm_hidden} differs from the EVA width {eva.width}")
        return out
