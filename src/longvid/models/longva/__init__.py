"""LongVA: CLIP-L/336 -> MLP -> 2x2 pool -> long-context Qwen2; UniRes for single images."""

from longvid.models.longva.config import LongVAConfig
from longvid.models.longva.model import LongVAConnector, LongVAModel

__all__ = ["LongVAConfig", "LongVAConnector", "LongVAModel"]
