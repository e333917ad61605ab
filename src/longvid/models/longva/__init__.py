"""LongVA: CLIP-L/336, a 2-layer projector with 2x2 pooling, and a long-context Qwen2.

The model code (torch) is in ``longvid.models.longva.model``; this package imports only the
config and the family declaration.
"""

from longvid.models.longva.config import LongVAConfig

__all__ = ["LongVAConfig"]
