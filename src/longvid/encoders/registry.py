"""The one registry of frame encoders (``ENCODERS``) and its ``create_encoder`` / ``list_encoders``.

Built-in encoders are registered by their modules, imported on first use so that
``import longvid.encoders`` stays light (no torch). Third parties register through the
``longvid.encoders`` entry-point group.
"""

from __future__ import annotations

import importlib

from longvid._registry import Registry

ENCODERS: Registry = Registry("encoder")

# encoder name -> module that registers it (imported on first use). LLaMA-VID's EVA-ViT-G will be
# one more line here, its module beside vision.py.
_BUILTIN = {
    "efficientnet-lite0": "longvid.encoders.efficientnet_lite",
    "siglip": "longvid.encoders.vision",
    "dinov2": "longvid.encoders.vision",
    "clip": "longvid.encoders.vision",
}


def create_encoder(name: str, /, **options):
    """Build a registered encoder: ``create_encoder("siglip", model=DIR, device="cuda")``."""
    if name in _BUILTIN and name not in ENCODERS._factories:
        importlib.import_module(_BUILTIN[name])
    return ENCODERS.create(name, **options)


def list_encoders() -> list[str]:
    return sorted(set(ENCODERS.list()) | set(_BUILTIN))
