"""The LongVA family: claims ``llava_qwen`` checkpoints (LLaVA-NeXT layout, CLIP inside)."""

from __future__ import annotations

from longvid.models.family import CheckpointSpec, MemoryProfile, ModelFamily, register_family
from longvid.models.longva.config import LLM_FAMILIES, LongVAConfig


@register_family("longva")
class LongVAFamily(ModelFamily):
    model_types = tuple(LLM_FAMILIES)
    config_class = LongVAConfig
    default_checkpoint = "lmms-lab/LongVA-7B"

    def checkpoint(self, config: LongVAConfig) -> CheckpointSpec:
        return CheckpointSpec(llm=config.llm, towers=(config.tower(),), connector_prefix="model.")

    def build_connector(self, config: LongVAConfig, encoder_dims: list[int]):
        from longvid.models.longva.model import LongVAConnector

        return LongVAConnector(config)  # its input width is the config's mm_hidden_size

    def memory_profile(self, config: LongVAConfig) -> MemoryProfile:
        return MemoryProfile(context_length=config.context_length, held_tokens_per_frame=config.tokens_per_frame,
                             held_width=config.hidden_size, sequence_grows=True,
                             encoder_tokens=config.patch_grid ** 2 + 1)  # 24x24 patches + the class token

    def build_model(self, parts):
        from longvid.errors import ModelLoadError
        from longvid.models.longva.model import LongVAModel

        cfg, width = parts.config, parts.encoders[0].feature_dim
        if width != cfg.mm_hidden_size:
            raise ModelLoadError(f"the CLIP tower of {parts.source} is {width} wide but its config.json says "
                                 f"mm_hidden_size {cfg.mm_hidden_size}; pass the tower the model was trained with")
        return LongVAModel.from_parts(parts)
