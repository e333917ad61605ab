"""LongVU: SigLIP + DINOv2, a spatial vision aggregator, and spatiotemporal adaptive compression.

The model code (torch) is in ``longvid.models.longvu.model``; this package imports only the
config and the family declaration.
"""

from longvid.models.longvu.config import LongVUConfig

__all__ = ["LongVUConfig"]
