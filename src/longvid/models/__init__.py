"""Video-LLM engines on transformers: LongVU and LongVA, with compressed visual tokens.

``load_engine(model)`` takes a hub id (``Vision-CAIR/LongVU_Qwen2_7B``, ``lmms-lab/LongVA-7B``...)
or a local folder in the released layout, plans memory, loads and returns an engine whose
``ask(video, question, on_text=...)`` answers (streaming) with every visual token traceable to its
frame.

Layout: one folder per family (``longvu/``, ``longva/``: config, family declaration, model,
trained modules), shared parts beside them: ``family`` (the family protocol and the ``FAMILIES``
registry), ``registry`` (``create_family``, ``list_families``...), ``loader`` (the one checkpoint
loader), ``video_llm`` (what every family's model shares), ``checkpoint`` and ``llm`` (checked
loading), ``prompt`` (chat template and splice), ``newline``, ``generate`` (streaming),
``memory`` (planner), ``engine``, ``testing`` (tiny random checkpoints in the released layouts).
The vision towers are frame encoders of ``longvid.encoders``. See docs/models.md.

Nothing heavy is imported here: torch and transformers load with the first call.
"""

from __future__ import annotations


def load_engine(model: str, **options):
    """See :func:`longvid.models.engine.load_engine`."""
    from longvid.models.engine import load_engine as _load

    return _load(model, **options)


def load_model(model: str, **options):
    """See :func:`longvid.models.engine.load_model`."""
    from longvid.models.engine import load_model as _load

    return _load(model, **options)


def list_families() -> list[str]:
    """Names of the registered model families (``['longva', 'longvu']`` built in)."""
    from longvid.models.registry import list_families as _list

    return _list()


def get_family(name: str):
    """The registered family class named ``name``."""
    from longvid.models.registry import get_family as _get

    return _get(name)


def create_family(name: str, /, **options):
    """An instance of the registered family ``name``."""
    from longvid.models.registry import create_family as _create

    return _create(name, **options)


__all__ = ["create_family", "get_family", "list_families", "load_engine", "load_model"]
