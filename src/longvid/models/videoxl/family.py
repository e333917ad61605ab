"""The Video-XL family: claims ``llava_qwen`` checkpoints that carry beacon keys (``sy1998/Video_XL``).

Design decisions:
- Video-XL's ``config.json`` says ``model_type: llava_qwen``, as LongVA's does; what tells them
  apart is the ``beacon_*`` keys. The family claims the type with a higher priority when those
  keys are there (``claim_priority``), and not at all otherwise, so LongVA checkpoints stay LongVA.
- Towers and projector as LongVA (the checkpoint carries CLIP under
  ``model.vision_tower.vision_tower.``); the connector adds the beacon weights, so the shared
  loader's weight-name report checks them.
- The beacon ratio is an engine setting, not an ``EngineConfig`` field: ``create_engine("videoxl",
  ratio=8)`` / :func:`load_videoxl_engine` set it (checked against the window before loading).
- Memory: the profile says what streams (see :mod:`longvid.models.memory`): each frame leaves
  ``144 / r`` cache entries (r: the smallest ratio the config may pick), one window is in flight,
  no frame is held.
"""

from __future__ import annotations

from longvid.models.family import CheckpointSpec, MemoryProfile, ModelFamily, register_family
from longvid.models.videoxl.config import VideoXLConfig


@register_family("videoxl")
class VideoXLFamily(ModelFamily):
    model_types = ("llava_qwen",)
    config_class = VideoXLConfig
    default_checkpoint = "sy1998/Video_XL"

    @classmethod
    def claim_priority(cls, raw: dict) -> int:
        """2 for a ``llava_qwen`` config with beacon keys (above a plain model_type claim), else 0."""
        return 2 if raw.get("model_type") in cls.model_types and "beacon_window" in raw else 0

    def checkpoint(self, config: VideoXLConfig) -> CheckpointSpec:
        return CheckpointSpec(llm=config.llm, towers=(config.vision.tower(),), connector_prefix="model.")

    def build_connector(self, config: VideoXLConfig, encoder_dims: list[int]):
        from longvid.models.videoxl.model import VideoXLConnector

        return VideoXLConnector(config)

    def memory_profile(self, config: VideoXLConfig) -> MemoryProfile:
        r = min(config.check_ratio(x) for x in config.ratios)
        v = config.vision
        return MemoryProfile(context_length=config.context_length, held_tokens_per_frame=0,
                             held_width=config.hidden_size, sequence_grows=True,
                             encoder_tokens=v.patch_grid ** 2 + 1,
                             kv_tokens_per_frame=config.tokens_per_frame / r, window_tokens=config.window)

    def build_model(self, parts):
        from longvid.errors import ModelLoadError
        from longvid.models.videoxl.model import VideoXLModel

        cfg, width = parts.config, parts.encoders[0].feature_dim
        if width != cfg.vision.mm_hidden_size:
            raise ModelLoadError(f"the CLIP tower of {parts.source} is {width} wide but its config.json says "
                                 f"mm_hidden_size {cfg.vision.mm_hidden_size}")
        return VideoXLModel.from_parts(parts)

    @staticmethod
    def create_engine(model: str = default_checkpoint, *, ratio: int | None = None, **options):
        """The Video-XL engine (``create_engine("videoxl", ratio=8)``); ``ratio`` 2/4/8/16 (None:
        the checkpoint's rule), other options as ``load_engine``."""
        return load_videoxl_engine(model, ratio=ratio, **options)


def load_videoxl_engine(model: str, *, ratio: int | None = None, **options):
    """``load_engine`` for Video-XL with the beacon ``ratio`` set; a ratio that does not divide the
    checkpoint's window is refused before any weight loads."""
    from longvid.models.checkpoint import read_config, resolve_model_dir
    from longvid.models.engine import load_shared_engine

    if ratio is not None:
        folder = resolve_model_dir(model)
        VideoXLConfig.from_dict(read_config(folder), where=str(folder / "config.json")).check_ratio(ratio)
    eng = load_shared_engine(model, family="videoxl", **options)
    eng.ratio = ratio
    return eng
