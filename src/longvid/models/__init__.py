"""Video-LLM engines on transformers: LongVU and LongVA, with compressed visual tokens.

``load_engine(model)`` takes a hub id (``Vision-CAIR/LongVU_Qwen2_7B``, ``lmms-lab/LongVA-7B``...)
or a local folder in the released layout, plans memory, loads and returns an engine whose
``ask(video, question, on_text=...)`` answers (streaming) with every visual token traceable to its
frame. One folder per family (``longvu/``, ``longva/``), shared parts beside them: ``vision``
(encoders and preprocessing), ``checkpoint`` and ``llm`` (checked loading), ``prompt`` (chat
template and splice), ``newline``, ``generate`` (streaming), ``memory`` (planner), ``engine``.

Nothing heavy is imported here: torch and transformers load with the engine.
"""

from __future__ import annotations


def load_engine(model: str, **options):
    """See :func:`longvid.models.engine.load_engine`."""
    from longvid.models.engine import load_engine as _load

    return _load(model, **options)


__all__ = ["load_engine"]
