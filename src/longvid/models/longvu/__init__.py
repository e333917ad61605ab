"""LongVU: SigLIP + DINOv2, a spatial vision aggregator, and spatiotemporal adaptive compression."""

from longvid.models.longvu.config import LongVUConfig
from longvid.models.longvu.model import LongVUModel

__all__ = ["LongVUConfig", "LongVUModel"]
