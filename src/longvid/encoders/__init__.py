"""Frame encoders: decoded frames in, per-frame features (a grid of them, or one pooled vector) out.

Every encoder implements one interface, :class:`~longvid.encoders.base.FrameEncoder`:
``encode(FrameBatch) -> FrameFeatures``, owning its preprocessing, chunking, device and dtype.
Built-ins (``list_encoders()``):

- ``efficientnet-lite0``: the packaged ImageNet EfficientNet-Lite0 (offline engine), pooled
  1280-d features plus ImageNet logits (``class_logits``).
- ``siglip``, ``dinov2``, ``clip``: the vision towers of LongVU (SigLIP-SO400M, DINOv2-giant)
  and LongVA (CLIP-L/14-336) through transformers (``pip install 'longvid[models]'``).

See docs/models.md. ``import longvid.encoders`` is light: an encoder's module (and torch) loads
when it is first created.
"""

from __future__ import annotations

from longvid.encoders.base import FrameEncoder, frames_batch
from longvid.encoders.registry import ENCODERS, create_encoder, list_encoders, register_encoder

__all__ = ["ENCODERS", "FrameEncoder", "create_encoder", "frames_batch", "list_encoders", "register_encoder"]
