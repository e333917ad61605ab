"""longvid engines as an lmms-eval model ("longvid"), found through lmms-eval's entry points.

Usage: ``python -m lmms_eval --model longvid --model_args engine=offline --tasks videomme``.

Design decisions:
- Registered with the ``lmms_eval.models`` entry-point group, whose payload lmms-eval expects to
  be a model manifest (or a callable returning one): ``lmms_eval_manifests`` returns it, naming
  the class by its import path so lmms-eval imports it only when chosen.
- ``LongvidLMM`` subclasses lmms-eval's ``lmms`` base when lmms-eval is importable; otherwise it
  is a plain class with the same methods, so the adapter can be used and tested without
  lmms-eval (which brings heavy dependencies).
- ``generate_until``: each request's video (from its ``doc_to_visual``) and text go to the
  engine's ``ask``; the answer is cut at the first ``until`` string. ``loglikelihood`` needs an
  engine with logits (the ``longvid.engines.ScoresLikelihood`` capability); others raise
  ``NotImplementedError`` saying so, rather than inventing a number.
- A request without a video (an image or text-only task) is an error naming the task.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from longvid.commands.options import parse_option_string
from longvid.engines import ScoresLikelihood
from longvid.errors import LongvidError

logger = logging.getLogger(__name__)

try:  # lmms-eval's base class when it is installed; the adapter works without it
    from lmms_eval.api.model import lmms as _LmmsBase

    HAVE_LMMS_EVAL = True
except ImportError:
    _LmmsBase = object
    HAVE_LMMS_EVAL = False

MODEL_ID = "longvid"
CLASS_PATH = "longvid.eval.lmms_adapter.LongvidLMM"
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".flv", ".ts")


@dataclass(frozen=True)
class Manifest:
    """Same fields as lmms-eval's ``ModelManifest``; used only when lmms-eval is absent."""

    model_id: str
    simple_class_path: str | None = None
    chat_class_path: str | None = None
    aliases: tuple[str, ...] = ()


def lmms_eval_manifests():
    """Entry-point payload for lmms-eval: the manifest of the ``longvid`` model."""
    try:
        from lmms_eval.models.registry_v2 import ModelManifest
    except ImportError:
        ModelManifest = Manifest
    return [ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH)]


def parse_model_args(arg_string: str) -> dict[str, Any]:
    """ "engine=offline,max_new_tokens=16" -> {"engine": "offline", "max_new_tokens": 16}
    (the same typed parser as ``--engine-option``: ``longvid.commands.options``)."""
    return parse_option_string(arg_string)


class LongvidLMM(_LmmsBase):
    """Any longvid engine behind lmms-eval's model interface."""

    is_simple = True  # lmms-eval "simple" model: requests carry doc_to_visual

    def __init__(self, engine: str | Any = "offline", batch_size: int = 1, **engine_options: Any) -> None:
        if HAVE_LMMS_EVAL:
            super().__init__()
        self.task_dict: dict = getattr(self, "task_dict", {}) or {}
        if isinstance(engine, str):
            from longvid.engines import create_engine

            engine = create_engine(engine, **engine_options)
        self.engine = engine
        self.batch_size_per_gpu = int(batch_size)

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> LongvidLMM:
        kwargs = parse_model_args(arg_string)
        for k, v in (additional_config or {}).items():
            if v is not None and k in ("batch_size",):
                kwargs.setdefault(k, v)
        return cls(**kwargs)

    # ------------------------------------------------------------------ helpers
    def _doc(self, task: str, split: str, doc_id: int):
        try:
            return self.task_dict[task][split][doc_id]
        except (KeyError, IndexError, TypeError) as exc:
            raise LongvidError(f"no document {doc_id} of task {task!r} split {split!r} in task_dict") from exc

    def _video(self, doc_to_visual, task: str, split: str, doc_id: int) -> str:
        visuals = doc_to_visual(self._doc(task, split, doc_id)) if callable(doc_to_visual) else doc_to_visual
        flat = []
        for v in visuals if isinstance(visuals, (list, tuple)) else [visuals]:
            flat.extend(v if isinstance(v, (list, tuple)) else [v])
        videos = [
            str(v) for v in flat if isinstance(v, (str, bytes)) and str(v).lower().endswith(VIDEO_SUFFIXES)
        ]
        if not videos:
            raise LongvidError(
                f"task {task!r} doc {doc_id} has no video path among its visuals; "
                "longvid engines answer about videos only"
            )
        return videos[0]

    # ------------------------------------------------------------------ lmms interface
    def generate_until(self, requests) -> list[str]:
        out = []
        for req in requests:
            contexts, gen_kwargs, doc_to_visual, doc_id, task, split = req.args
            video = self._video(doc_to_visual, task, split, doc_id)
            text = self.engine.ask(video, contexts).text
            until = (gen_kwargs or {}).get("until") or []
            for stop in [until] if isinstance(until, str) else until:
                if stop and stop in text:
                    text = text.split(stop, 1)[0]
            out.append(text)
            if getattr(self, "cache_hook", None) is not None:
                self.cache_hook.add_partial("generate_until", (contexts, gen_kwargs), text)
        return out

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        if not isinstance(self.engine, ScoresLikelihood):
            raise NotImplementedError(
                f"engine {getattr(self.engine, 'name', self.engine)!r} exposes no logits; "
                "loglikelihood needs a video-LLM engine (longvu, longva)"
            )
        out = []
        for req in requests:
            contexts, doc_to_target, doc_to_visual, doc_id, task, split = req.args
            doc = self._doc(task, split, doc_id)
            continuation = doc_to_target(doc) if callable(doc_to_target) else doc_to_target
            video = self._video(doc_to_visual, task, split, doc_id)
            logprob, greedy = self.engine.loglikelihood(video, contexts, str(continuation))
            out.append((float(logprob), bool(greedy)))
        return out

    def generate_until_multi_round(self, requests) -> list[str]:
        raise NotImplementedError("longvid engines answer single-round questions")
