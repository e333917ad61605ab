"""The one registry of frame encoders (``ENCODERS``) and its ``create_encoder`` / ``list_encoders``.

Built-in encoders are registered by their modules, imported on first use so that
``import longvid.encoders`` stays light (no torch). Third parties register through the
``longvid.encoders`` entry-point group.
"""

from __future__ import annotations

from longvid.registry import Registry

ENCODERS: Registry = Registry("encoder", builtins={
    "efficientnet-lite0": "longvid.encoders.efficientnet_lite",
    "efficientnet-lite1": "longvid.encoders.efficientnet_lite",
    "efficientnet-lite2": "longvid.encoders.efficientnet_lite",
    "siglip": "longvid.encoders.vision",
    "dinov2": "longvid.encoders.vision",
    "clip": "longvid.encoders.vision",
    "eva_vit_g": "longvid.encoders.eva_vit",
})
register_encoder = ENCODERS.register
create_encoder = ENCODERS.create  # create_encoder("siglip", model=DIR, device="cuda")
list_encoders = ENCODERS.list
