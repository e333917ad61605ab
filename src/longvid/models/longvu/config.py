"""LongVU's configuration, read from a released ``config.json`` (keys as the checkpoints spell them).

Design decisions:
- The LLM family comes from ``model_type`` through an explicit table (``cambrian_qwen`` -> Qwen2,
  ``cambrian_llama`` -> Llama), never from substrings of a model name.
- Towers come from ``mm_vision_tower_aux_list`` through an explicit table of the released names
  (``siglip/CLIP-ViT-SO400M-14-384`` -> the ``siglip`` encoder with google/siglip-so400m-patch14-384,
  ``facebook/dinov2-giant-res378`` -> ``dinov2`` with facebook/dinov2-giant); the first is the
  token source and global context, the last (DINOv2) drives temporal reduction, as in the
  released model.
- Options the released checkpoints never used (``connector_only: false`` sampler layers inside the
  LLM, ``frame_pos``, several query groups, ``mm_use_im_start_end``) are rejected with a clear
  error rather than half-supported.
- ``image_token_len`` (the final grid) may differ from ``query_num_list`` (the aggregator's query
  grid): the model resizes the queries to the final grid, as released.
- ``size_reading`` is not a ``config.json`` key: it says which (width, height) pair trims the
  padding of non-square frames; the default is the one the video checkpoints were trained with.
- Defaults for keys a config may lack live here once, each with its source (for ``highres``
  the released code's own reading of a missing key: off); those the compressor
  also uses (low-resolution grid, thresholds, the reserve) are the compressor's own defaults,
  imported from ``longvid.compress``, so the two cannot diverge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from longvid.compress.budget import RESERVE_TOKENS
from longvid.compress.mixed_resolution import MixedResolutionConfig
from longvid.compress.stc import STCConfig
from longvid.compress.temporal import TemporalConfig
from longvid.encoders.vision import DINOV2_GIANT_378, SIGLIP_SO400M_384
from longvid.errors import ModelLoadError
from longvid.models.family import LLMSpec, TowerSpec, model_type_of

# model_type -> the LLM's transformers classes
LLM_FAMILIES = {
    "cambrian_qwen": LLMSpec("Qwen2Config", "Qwen2ForCausalLM", {"rope_scaling": None}),
    "cambrian_llama": LLMSpec("LlamaConfig", "LlamaForCausalLM"),
}

# released tower name (mm_vision_tower_aux_list) -> the tower; its checkpoint prefix depends on
# its position in the list (see LongVUConfig.towers)
TOWERS: dict[str, TowerSpec] = {
    "siglip/CLIP-ViT-SO400M-14-384": TowerSpec("siglip/CLIP-ViT-SO400M-14-384", "siglip",
                                               "google/siglip-so400m-patch14-384", SIGLIP_SO400M_384, ""),
    "facebook/dinov2-giant-res378": TowerSpec("facebook/dinov2-giant-res378", "dinov2", "facebook/dinov2-giant",
                                              DINOV2_GIANT_378, ""),
}
TOWER_PREFIX = "model.vision_tower_aux_list."

# How a frame's size is read where the released code trims padding (the aggregator's picture mask,
# the unpadding of the final token grids). Its video training data and its eval scripts hand it
# the decoded frame's (height, width), which it reads as (width, height): "as_trained" does the
# same, so a checkpoint sees the cells it was trained on; "corrected" reads the true (width, height).
SizeReading = Literal["as_trained", "corrected"]
SIZE_READINGS: tuple[SizeReading, ...] = ("as_trained", "corrected")  # a checkpoint carrying tower i: TOWER_PREFIX + f"{i}.vision_tower."


@dataclass(frozen=True)
class LongVUConfig:
    model_type: str
    hidden_size: int  # LLM width
    encoders: tuple[str, ...]  # mm_vision_tower_aux_list
    encoder_token_lens: tuple[int, ...]  # mm_vision_tower_aux_token_len_list: 576 = 24x24 grid
    vision_hidden_size: int = 1024  # aggregator width (train.py default)
    query_tokens: int = 144  # query_num_list[0]: 12x12 learned queries (released video models)
    image_token_len: int = 144  # tokens per frame at high resolution
    connector_depth: int = 3  # aggregator layers
    aggregator_heads: int = 16  # fixed in the released aggregator code
    # mixed resolution; a config without the key means off, as the released code reads it
    # (getattr(config, "highres", False)); the released video configs all write true
    highres: bool = False
    # low-resolution side of mixed resolution: the compressor's default low grid (8x8)
    lowres_token: int = MixedResolutionConfig.low_grid[0]
    dino_threshold: float = TemporalConfig.threshold  # temporal reduction threshold (0.83)
    drop_threshold: float = STCConfig.threshold  # spatial token compression theta (0.7, released config)
    context_length: int = 8192  # tokenizer_model_max_length
    reserve_tokens: int = RESERVE_TOKENS  # inference_max_length: tokens kept free after the prompt (16)
    image_newline: bool = True  # is_image_newline: a learned token ends each row of a frame
    # The released code measures the text as the whole input_ids, the <image> id included, in its
    # frame-drop trigger and its mixed-resolution band test: their budget is one below ours
    # (longvid never makes the placeholder a token). Set 0 to decide on longvid's own budget.
    placeholder_tokens: int = 1
    # Not a config.json key: which (W, H) reading trims the padding of non-square frames (see
    # SizeReading). Set with dataclasses.replace(model.config, size_reading="corrected").
    size_reading: SizeReading = "as_trained"

    def __post_init__(self) -> None:
        if self.size_reading not in SIZE_READINGS:
            raise ModelLoadError(f"size_reading must be one of {list(SIZE_READINGS)}, got {self.size_reading!r}")

    def read_size(self, picture_wh: tuple[int, int] | None) -> tuple[int, int] | None:
        """The (width, height) pair the released code trims padding with, for a picture of true
        size ``picture_wh``: swapped under ``"as_trained"``, as is under ``"corrected"``."""
        if picture_wh is None:
            return None
        w, h = picture_wh
        return (h, w) if self.size_reading == "as_trained" else (w, h)

    @property
    def drop_divisor(self) -> int:
        """Tokens per frame in the frame-drop trigger: the low grid's with ``highres``, else a
        whole frame's (``image_token_len``), as the released code picks it."""
        return self.lowres_token ** 2 if self.highres else self.image_token_len

    @property
    def llm(self) -> LLMSpec:
        return LLM_FAMILIES[self.model_type]

    @property
    def query_side(self) -> int:
        return int(round(self.query_tokens ** 0.5))

    @property
    def final_side(self) -> int:
        """Side of the token grid the LLM sees (``image_token_len``); the aggregator's query grid
        is resized to it when the two differ, as released."""
        return int(round(self.image_token_len ** 0.5))

    @property
    def encoder_grid(self) -> int:
        return int(round(self.encoder_token_lens[0] ** 0.5))

    @property
    def low_grid(self) -> tuple[int, int]:
        return self.lowres_token, self.lowres_token

    def towers(self) -> tuple[TowerSpec, ...]:
        """The towers in list order, each resized to the configured encoder grid."""
        g = self.encoder_grid
        return tuple(replace(TOWERS[name], spec=replace(TOWERS[name].spec, grid=g),
                             checkpoint_prefix=f"{TOWER_PREFIX}{i}.vision_tower.")
                     for i, name in enumerate(self.encoders))

    @classmethod
    def from_dict(cls, cfg: dict, *, where: str = "config.json") -> LongVUConfig:
        def bad(msg: str) -> ModelLoadError:
            return ModelLoadError(f"{where}: {msg}")

        mt = model_type_of(cfg, LLM_FAMILIES, "LongVU", where=where)
        if cfg.get("mm_projector_type", "sva") != "sva":
            raise bad(f"mm_projector_type {cfg.get('mm_projector_type')!r} is not supported; LongVU uses 'sva'")
        if not cfg.get("connector_only", True):
            raise bad("connector_only=false (aggregator layers inside the LLM) is not supported")
        if cfg.get("frame_pos", False):
            raise bad("frame_pos=true is not supported (the released LongVU models do not use it)")
        if cfg.get("mm_use_im_start_end", False):
            raise bad("mm_use_im_start_end=true is not supported (the released LongVU models do not use it)")
        groups = cfg.get("num_query_group", 1)
        qlist = list(cfg.get("query_num_list", [144]))
        if groups != 1 or len(qlist) != 1:
            raise bad(f"num_query_group={groups}, query_num_list={qlist}: only one query group is supported")
        encoders = tuple(cfg.get("mm_vision_tower_aux_list") or ())
        unknown = [e for e in encoders if e not in TOWERS]
        if not encoders or unknown:
            raise bad(f"mm_vision_tower_aux_list {list(encoders)} names unknown encoders {unknown}; "
                      f"known: {sorted(TOWERS)}")
        lens = tuple(cfg.get("mm_vision_tower_aux_token_len_list") or [576] * len(encoders))
        if len(lens) != len(encoders) or len(set(lens)) != 1:
            raise bad(f"mm_vision_tower_aux_token_len_list {list(lens)} must give one equal length per encoder")
        out = cls(
            model_type=mt,
            hidden_size=int(cfg["hidden_size"]),
            encoders=encoders,
            encoder_token_lens=lens,
            vision_hidden_size=int(cfg.get("vision_hidden_size", cls.vision_hidden_size)),
            query_tokens=int(qlist[0]),
            image_token_len=int(cfg.get("image_token_len", cls.image_token_len)),
            connector_depth=int(cfg.get("connector_depth", cls.connector_depth)),
            highres=bool(cfg.get("highres", cls.highres)),
            lowres_token=int(cfg.get("lowres_token", cls.lowres_token)),
            dino_threshold=float(cfg.get("dino_threshold", cls.dino_threshold)),
            drop_threshold=float(cfg.get("drop_threshold", cls.drop_threshold)),
            context_length=int(cfg.get("tokenizer_model_max_length", cls.context_length)),
            reserve_tokens=int(cfg.get("inference_max_length", cls.reserve_tokens)),
            image_newline=bool(cfg.get("is_image_newline", cls.image_newline)),
        )
        qs, g = out.query_side, out.encoder_grid
        if qs * qs != out.query_tokens or g * g != lens[0] or g % qs:
            raise bad(f"query grid {out.query_tokens} and encoder grid {lens[0]} must be squares, "
                      "the encoder side a multiple of the query side")
        fs = out.final_side
        if fs * fs != out.image_token_len:
            raise bad(f"image_token_len {out.image_token_len} must be a square (the final token grid)")
        if not 1 <= out.lowres_token <= min(qs, fs):
            raise bad(f"lowres_token {out.lowres_token} must be between 1 and the query side {min(qs, fs)}")
        if out.vision_hidden_size % out.aggregator_heads:
            raise bad(f"vision_hidden_size {out.vision_hidden_size} is not divisible by "
                      f"{out.aggregator_heads} attention heads")
        return out
