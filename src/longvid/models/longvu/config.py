"""LongVU's configuration, read from a released ``config.json`` (keys as the checkpoints spell them).

Design decisions:
- The LLM family comes from ``model_type`` through an explicit table (``cambrian_qwen`` -> Qwen2,
  ``cambrian_llama`` -> Llama), never from substrings of a model name.
- Encoders come from ``mm_vision_tower_aux_list`` through an explicit table of the released names
  (``siglip/CLIP-ViT-SO400M-14-384`` -> google/siglip-so400m-patch14-384,
  ``facebook/dinov2-giant-res378`` -> facebook/dinov2-giant); the first is the token source and
  global context, the last (DINOv2) drives temporal reduction, as in the released model.
- Options the released checkpoints never used (``connector_only: false`` sampler layers inside the
  LLM, ``frame_pos``, several query groups, ``mm_use_im_start_end``) are rejected with a clear
  error rather than half-supported.
- Defaults for keys a config may lack live here once, each with its source.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from longvid.errors import ModelLoadError
from longvid.models.vision import DINOV2_GIANT_378, SIGLIP_SO400M_384, EncoderSpec

# model_type -> LLM family (transformers config/model class names)
LLM_FAMILIES = {
    "cambrian_qwen": ("Qwen2Config", "Qwen2ForCausalLM"),
    "cambrian_llama": ("LlamaConfig", "LlamaForCausalLM"),
}

# released encoder name -> (weights to load, how to encode)
ENCODERS: dict[str, tuple[str, EncoderSpec]] = {
    "siglip/CLIP-ViT-SO400M-14-384": ("google/siglip-so400m-patch14-384", SIGLIP_SO400M_384),
    "facebook/dinov2-giant-res378": ("facebook/dinov2-giant", DINOV2_GIANT_378),
}


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
    highres: bool = True  # mixed resolution on (released video models)
    lowres_token: int = 8  # low-resolution side: 8x8 = 64 tokens per frame
    dino_threshold: float = 0.83  # temporal reduction threshold
    drop_threshold: float = 0.7  # spatial token compression theta in the released config
    context_length: int = 8192  # tokenizer_model_max_length
    reserve_tokens: int = 16  # inference_max_length: tokens kept free after the prompt
    image_newline: bool = True  # is_image_newline: a learned token ends each row of a frame

    @property
    def llm_family(self) -> tuple[str, str]:
        return LLM_FAMILIES[self.model_type]

    @property
    def query_side(self) -> int:
        return int(round(self.query_tokens ** 0.5))

    @property
    def encoder_grid(self) -> int:
        return int(round(self.encoder_token_lens[0] ** 0.5))

    def encoder_specs(self) -> list[EncoderSpec]:
        g = self.encoder_grid
        return [replace(ENCODERS[name][1], grid=g) for name in self.encoders]

    @classmethod
    def from_dict(cls, cfg: dict, *, where: str = "config.json") -> LongVUConfig:
        def bad(msg: str) -> ModelLoadError:
            return ModelLoadError(f"{where}: {msg}")

        mt = cfg.get("model_type")
        if mt not in LLM_FAMILIES:
            raise bad(f"model_type {mt!r} is not a LongVU model; expected one of {sorted(LLM_FAMILIES)}")
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
        unknown = [e for e in encoders if e not in ENCODERS]
        if not encoders or unknown:
            raise bad(f"mm_vision_tower_aux_list {list(encoders)} names unknown encoders {unknown}; "
                      f"known: {sorted(ENCODERS)}")
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
        if out.image_token_len != out.query_tokens:
            raise bad(f"image_token_len {out.image_token_len} differs from query_num_list {qlist}")
        if out.vision_hidden_size % out.aggregator_heads:
            raise bad(f"vision_hidden_size {out.vision_hidden_size} is not divisible by "
                      f"{out.aggregator_heads} attention heads")
        return out
