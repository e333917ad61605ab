"""Engines answer questions about videos. One registry for all of them.

An engine is registered with ``@register_engine("name")`` in its own package (the offline
default in ``longvid.offline``, video-LLMs in ``longvid.models``) and created with
``create_engine(name, **options)``. The built-in engines' modules are imported on first use,
so ``import longvid`` stays light.

Every engine has ``ask(video, question) -> Answer``. Engines that expose logits also have
``loglikelihood(video, context, continuation, per_token=False) -> (logprob, is_greedy)``, used
by teacher-forced scoring (V-NIAH "PPL-based", lmms-eval ``loglikelihood``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from longvid.registry import Registry
from longvid.errors import LongvidError
from longvid.types import Answer

ENGINES: Registry = Registry("engine", builtins={
    "offline": "longvid.offline.engine",
    "longvu": "longvid.models.engine",
    "longva": "longvid.models.engine",
    "qwen2_vl": "longvid.models.engine",
    "qwen2_5_vl": "longvid.models.engine",
    "qwen3_vl": "longvid.models.engine",
    "llava_onevision": "longvid.models.engine",
    "llama_vid": "longvid.models.engine",
    "videoxl": "longvid.models.engine",
    "openai": "longvid.remote.engine",
})
register_engine = ENGINES.register
create_engine = ENGINES.create
list_engines = ENGINES.list


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


@runtime_checkable
class ScoresLikelihood(Protocol):
    """A declared capability: the engine exposes logits, so it can score a given continuation
    (teacher-forced V-NIAH scoring, lmms-eval's ``loglikelihood`` requests)."""

    def loglikelihood(self, video: str, context: str, continuation: str, *,
                      per_token: bool = False) -> tuple[float, bool]:
        """Log-probability of ``continuation`` after ``context`` (summed over its tokens, or their
        mean with ``per_token``), and whether greedy decoding gives it."""
        ...
