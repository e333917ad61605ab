"""Frame encoders: images in, one feature vector (or a grid of them) per frame out.

Design decisions:
- One registry (``ENCODERS``) for every frame encoder; ``create_encoder(name, **kw)`` builds one,
  importing the module that registers a built-in lazily so that ``import longvid.encoders`` stays
  light (no torch). Third parties register through the ``longvid.encoders`` entry-point group.
- Every encoder has the same surface: ``input_size`` (pixels, square), ``feature_dim``,
  ``encode(frames_uint8_bhwc) -> FrameEncoding`` (pooled features, and class logits when the
  model has a classifier head).
"""

from __future__ import annotations

import importlib

from longvid.registry import Registry

ENCODERS: Registry = Registry("encoder")

# encoder name -> module that registers it (imported on first use)
_BUILTIN = {
    "efficientnet-lite0": "longvid.encoders.efficientnet_lite",
}


def create_encoder(name: str, /, **options):
    if name in _BUILTIN and name not in ENCODERS._factories:
        importlib.import_module(_BUILTIN[name])
    return ENCODERS.create(name, **options)


def list_encoders() -> list[str]:
    return sorted(set(ENCODERS.list()) | set(_BUILTIN))
