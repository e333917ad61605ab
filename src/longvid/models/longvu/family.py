"""The LongVU family: claims ``cambrian_qwen`` and ``cambrian_llama`` checkpoints."""

from __future__ import annotations

from longvid.models.family import CheckpointSpec, MemoryProfile, ModelFamily, register_family
from longvid.models.longvu.config import LLM_FAMILIES, TOWER_PREFIX, LongVUConfig


@register_family("longvu")
class LongVUFamily(ModelFamily):
    model_types = tuple(LLM_FAMILIES)
    config_class = LongVUConfig
    default_checkpoint = "Vision-CAIR/LongVU_Qwen2_7B"

    def checkpoint(self, config: LongVUConfig) -> CheckpointSpec:
        # the released checkpoints carry no tower; anything under the aux-list prefix is a tower's
        return CheckpointSpec(llm=config.llm, towers=config.towers(), connector_prefix="model.",
                              tower_prefixes=(TOWER_PREFIX,))

    def build_connector(self, config: LongVUConfig, encoder_dims: list[int]):
        from longvid.models.longvu.modules import LongVUConnector

        return LongVUConnector(
            encoder_dims=encoder_dims, encoder_grid=config.encoder_grid,
            vision_hidden_size=config.vision_hidden_size, query_side=config.query_side,
            depth=config.connector_depth, num_heads=config.aggregator_heads, llm_hidden_size=config.hidden_size,
        )

    def memory_profile(self, config: LongVUConfig) -> MemoryProfile:
        # a kept frame holds its 12x12 aggregated tokens and their projection until compression;
        # the sequence is bounded by the context
        return MemoryProfile(context_length=config.context_length, held_tokens_per_frame=config.query_tokens,
                             held_width=config.vision_hidden_size + config.hidden_size, sequence_grows=False,
                             encoder_tokens=max(config.encoder_token_lens) * 1.3)  # ~27x27 native patches

    def build_model(self, parts):
        from longvid.models.longvu.model import LongVUModel

        return LongVUModel.from_parts(parts)
