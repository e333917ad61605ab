"""Engines answer questions about videos. One registry for all of them.

An engine is registered with ``@ENGINES.register("name")`` in its own package (the offline
default in ``longvid.offline``, video-LLMs in ``longvid.models``) and created with
``create_engine(name, **options)``. Registration happens when that package is imported;
``create_engine`` imports the known packages lazily so that ``import longvid`` stays light.

Every engine has ``ask(video, question) -> Answer``. Engines that expose logits also have
``loglikelihood(video, context, continuation) -> (logprob, is_greedy)``, used by teacher-forced
scoring (V-NIAH "PPL-based", lmms-eval ``loglikelihood``).
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

from longvid._registry import Registry
from longvid.errors import LongvidError
from longvid.types import Answer

ENGINES: Registry = Registry("engine")

# engine name -> module that registers it (imported on first use)
_BUILTIN = {
    "offline": "longvid.offline.engine",
    "longvu": "longvid.models.engine",
    "longva": "longvid.models.engine",
}


@runtime_checkable
class Engine(Protocol):
    name: str

    def ask(self, video: str, question: str) -> Answer: ...


class EmptyQuestionError(LongvidError, ValueError):
    """A question or query with no words in it."""


def check_question(question: str) -> str:
    """The question without surrounding whitespace; an empty one is an error, never a guess."""
    q = (question or "").strip()
    if not q:
        raise EmptyQuestionError(
            "the question is empty: ask something about the video, e.g. \"When does the speaker mention the budget?\""
        )
    return q


def create_engine(name: str, /, **options) -> Engine:
    if name in _BUILTIN and name not in ENGINES._factories:
        importlib.import_module(_BUILTIN[name])
    return ENGINES.create(name, **options)


def list_engines() -> list[str]:
    return sorted(set(ENGINES.list()) | set(_BUILTIN))


@runtime_checkable
class ScoresLikelihood(Protocol):
    """A declared capability: the engine exposes logits, so it can score a given continuation
    (teacher-forced V-NIAH scoring, lmms-eval's ``loglikelihood`` requests)."""

    def loglikelihood(self, video: str, context: str, continuation: str) -> tuple[float, bool]:
        """Log-probability of ``continuation`` after ``context``, and whether greedy decoding gives it."""
        ...
