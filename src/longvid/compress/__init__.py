"""Token compression: fit an hour of video into an LLM's context.

Every strategy is a registered ``Compressor``: ``create_compressor(name, **options)`` builds it,
``comp(features, budget=..., query=..., temporal_features=...)`` returns ``VisualTokens`` with
per-token provenance and per-stage stats, and ``comp.num_output_tokens(...)`` /
``comp.token_count(...)`` give its token count (exact, or a guaranteed upper bound) so that
prompt builders never recompute it. ``Pipeline`` chains strategies; ``plan_budget`` picks a
chain that fits a context, keeping ``RESERVE_TOKENS`` (16) free after the prompt; model configs
import that constant. Strategy modules are pure torch and registered on import. Method notes
(what each strategy does, its defaults and their sources): docs/compression.md.

Built in: ``uniform``, ``avg_pool_2x2``, ``bilinear`` (pooling.py); ``longvu``,
``longvu_temporal``, ``longvu_mixed_resolution``, ``longvu_stc`` (longvu.py, stages in
temporal.py, mixed_resolution.py, stc.py); ``llama_vid`` (llama_vid.py); ``videoxl_window``
(videoxl.py, which also holds ``WindowPlan`` for engines with trained summary tokens). Third
parties register theirs through the ``longvid.compressors`` entry-point group.

Beside the registry: ``prefilter`` drops near-duplicate frames on pixel thumbnails before any
encoder runs (streaming over ``FrameBatch`` iterators); ``plot`` draws a timeline of what a
compression kept (matplotlib, extra ``plot``). Only torch is needed on the import path.
"""

from __future__ import annotations

from longvid.compress import llama_vid as _llama_vid  # noqa: F401  (registers strategies)
from longvid.compress import longvu as _longvu  # noqa: F401
from longvid.compress import pooling as _pooling  # noqa: F401
from longvid.compress import videoxl as _videoxl  # noqa: F401
from longvid.compress.base import (
    COMPRESSORS,
    Compressor,
    Query,
    TokenCount,
    create_compressor,
    list_compressors,
    register_compressor,
)
from longvid.compress.budget import RESERVE_TOKENS, BudgetPlan, StageSpec, plan_budget
from longvid.compress.pipeline import Pipeline

__all__ = [
    "COMPRESSORS",
    "RESERVE_TOKENS",
    "BudgetPlan",
    "Compressor",
    "Pipeline",
    "Query",
    "StageSpec",
    "TokenCount",
    "create_compressor",
    "list_compressors",
    "plan_budget",
    "register_compressor",
]
