"""longvid engines as an lmms-eval model ("longvid"), found through lmms-eval's entry points.

Usage: ``python -m lmms_eval --model longvid --model_args engine=offline,max_new_tokens=16 --tasks T``
(``--force_simple`` selects the simple model instead of the chat one).

Design decisions:
- Registered with the ``lmms_eval.models`` entry-point group, whose payload lmms-eval expects to
  be a model manifest (or a callable returning one): ``lmms_eval_manifests`` returns it, naming
  the class by its import path so lmms-eval imports it only when chosen.
- Both of lmms-eval 0.7's model kinds are registered in one manifest: ``LongvidChatLMM``
  (``is_simple = False``, the default lmms-eval picks: requests carry ``doc_to_messages``) and
  ``LongvidLMM`` (simple: requests carry ``doc_to_visual``). Both end in the same per-request
  step (video, prompt, generation settings), so the two paths answer alike.
- ``--model_args``: ``engine``, ``batch_size`` and ``loglikelihood`` (mean or sum) are the adapter's; generation settings
  (``max_new_tokens``, ``until``, and greedy-only sampling keys) are defaults that a task's
  ``generation_kwargs`` override per request; everything else goes to the engine's constructor,
  and one it does not take is an error listing those it does.
- Multiple choice: a prompt with options (``A. ... B. ...``) goes to the engine's ``choose``
  where it has one (the offline engine: one option letter, or a lower-case "none of the options
  is supported" that letter extractors do not read as a guess); other engines get ``ask``.
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
from typing import Any, Literal

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
CHAT_CLASS_PATH = "longvid.eval.lmms_adapter.LongvidChatLMM"
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".flv", ".ts")
# generation settings the adapter applies itself; engines answer greedily, so sampling settings
# are accepted only with their greedy values
GENERATION_KEYS = ("max_new_tokens", "until")
LikelihoodReduction = Literal["mean", "sum"]  # how a continuation's token log-probabilities combine
GREEDY_VALUES = {"temperature": (0, 0.0), "do_sample": (False,), "top_p": (1, 1.0, None), "num_beams": (1,)}


@dataclass(frozen=True)
class Manifest:
    """Same fields as lmms-eval's ``ModelManifest``; used only when lmms-eval is absent."""

    model_id: str
    simple_class_path: str | None = None
    chat_class_path: str | None = None
    aliases: tuple[str, ...] = ()


def lmms_eval_manifests():
    """Entry-point payload for lmms-eval: the manifest of the ``longvid`` model (chat and simple)."""
    try:
        from lmms_eval.models.registry_v2 import ModelManifest
    except ImportError:
        ModelManifest = Manifest
    return [ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH, chat_class_path=CHAT_CLASS_PATH)]


def parse_model_args(arg_string: str) -> dict[str, Any]:
    """ "engine=offline,max_new_tokens=16" -> {"engine": "offline", "max_new_tokens": 16}
    (the same typed parser as ``--engine-option``: ``longvid.commands.options``)."""
    return parse_option_string(arg_string)


def generation_settings(gen_kwargs: dict | None, where: str) -> dict[str, Any]:
    """The settings of ``gen_kwargs`` the adapter applies ({max_new_tokens, until}); a sampling
    setting other than its greedy value is an error (engines decode greedily); other keys (task
    extras such as ``image_aspect_ratio``) are ignored with a debug line."""
    out = {}
    for key, value in (gen_kwargs or {}).items():
        if key in GENERATION_KEYS:
            out[key] = value
        elif key in GREEDY_VALUES:
            if value not in GREEDY_VALUES[key]:
                raise LongvidError(
                    f"{where}: {key}={value!r} asks for sampling; longvid engines decode greedily "
                    f"(use {key}={GREEDY_VALUES[key][0]!r} or leave it out)"
                )
        else:
            logger.debug("%s: generation setting %s=%r does not apply to longvid engines", where, key, value)
    if out.get("max_new_tokens") is not None:
        out["max_new_tokens"] = int(out["max_new_tokens"])
    return out


def _create_engine(name: str, options: dict[str, Any]):
    import inspect

    from longvid.engines import ENGINES, create_engine

    try:
        return create_engine(name, **options)
    except TypeError as exc:
        try:
            params = [p for p in inspect.signature(ENGINES.get(name)).parameters if p != "self"]
        except Exception:  # the registry could not say: the original error is still the news
            params = []
        raise LongvidError(
            f"--model_args: engine {name!r} does not take {sorted(options)} ({exc}); "
            f"it takes {params or 'other options'}, plus the adapter's engine, batch_size, loglikelihood and "
            f"generation settings {list(GENERATION_KEYS) + list(GREEDY_VALUES)}"
        ) from exc


def _cut(text: str, until) -> str:
    for stop in [until] if isinstance(until, str) else (until or []):
        if stop and stop in text:
            text = text.split(stop, 1)[0]
    return text


class LongvidLMM(_LmmsBase):
    """Any longvid engine behind lmms-eval's simple model interface."""

    is_simple = True  # lmms-eval "simple" model: requests carry doc_to_visual

    def __init__(self, engine: str | Any = "offline", batch_size: int = 1,
                 loglikelihood: LikelihoodReduction = "mean", **options: Any) -> None:
        if HAVE_LMMS_EVAL:
            super().__init__()
        if loglikelihood not in ("mean", "sum"):
            raise LongvidError(f"--model_args: loglikelihood={loglikelihood!r}; use mean (per token, as "
                               "lmms-eval's own models score) or sum")
        self.reduction = loglikelihood
        self.task_dict: dict = getattr(self, "task_dict", {}) or {}
        gen = {k: options.pop(k) for k in [*GENERATION_KEYS, *GREEDY_VALUES] if k in options}
        self.generation = generation_settings(gen, "--model_args")
        if isinstance(engine, str):
            engine = _create_engine(engine, options)
        elif options:
            raise LongvidError(f"options {sorted(options)} given with an engine object; configure the engine itself")
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

    @staticmethod
    def _pick_video(visuals, task: str, doc_id: int) -> str:
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

    def _video(self, doc_to_visual, task: str, split: str, doc_id: int) -> str:
        visuals = doc_to_visual(self._doc(task, split, doc_id)) if callable(doc_to_visual) else doc_to_visual
        return self._pick_video(visuals, task, doc_id)

    def respond(self, video: str, prompt: str, gen_kwargs: dict | None, task: str) -> str:
        """One request's answer: multiple choice through ``choose``, else ``ask``; cut at ``until``."""
        settings = {**self.generation, **generation_settings(gen_kwargs, f"task {task!r}")}
        from longvid.offline.choices import parse_options

        stem, options = parse_options(prompt)
        if options and callable(getattr(self.engine, "choose", None)):
            return self.engine.choose(video, stem or prompt, options).text
        kwargs = {}
        if settings.get("max_new_tokens") is not None:
            if _accepts(self.engine.ask, "max_new_tokens"):
                kwargs["max_new_tokens"] = settings["max_new_tokens"]
            else:
                logger.debug("engine %r has no max_new_tokens; answers keep their length", self.engine)
        if _accepts(self.engine.ask, "do_sample"):  # an engine that may sample answers greedily here
            kwargs["do_sample"] = False
        text = self.engine.ask(video, prompt, **kwargs).text
        return _cut(text, settings.get("until"))

    # ------------------------------------------------------------------ lmms interface
    def generate_until(self, requests) -> list[str]:
        out = []
        for req in requests:
            contexts, gen_kwargs, doc_to_visual, doc_id, task, split = req.args
            video = self._video(doc_to_visual, task, split, doc_id)
            text = self.respond(video, contexts, gen_kwargs, task)
            out.append(text)
            if getattr(self, "cache_hook", None) is not None:
                self.cache_hook.add_partial("generate_until", (contexts, gen_kwargs), text)
        return out

    def loglikelihood(self, requests) -> list:
        """Per request ``(loss, is_greedy)`` as lmms-eval's own models return it: ``loss`` is the
        continuation's negative log-likelihood, its mean per token (``loglikelihood=mean``, the
        default, as lmms-eval's models compute it) or its sum (``loglikelihood=sum``); lower is
        more likely, which is what lmms-eval's ``multiple_choice`` scoring (argmin) expects."""
        if not isinstance(self.engine, ScoresLikelihood):
            raise NotImplementedError(
                f"engine {getattr(self.engine, 'name', self.engine)!r} exposes no logits; "
                "loglikelihood needs a video-LLM engine (longvu, longva)"
            )
        out = []
        for req in requests:
            contexts, target, doc_to_visual, doc_id, task, split = req.args
            # loglikelihood tasks pass doc_to_target; multiple_choice passes each choice's text
            continuation = target(self._doc(task, split, doc_id)) if callable(target) else target
            video = self._video(doc_to_visual, task, split, doc_id)
            logprob, greedy = self.engine.loglikelihood(video, contexts, str(continuation),
                                                        per_token=self.reduction == "mean")
            out.append(_scored(-float(logprob), bool(greedy)))
        return out

    def generate_until_multi_round(self, requests) -> list[str]:
        raise NotImplementedError("longvid engines answer single-round questions")


def _scored(loss: float, greedy: bool):
    """``(loss, greedy)`` in the form lmms-eval's evaluator passes through untouched.

    lmms-eval 0.7.3 normalises every model output with ``unwrap_generation_output``, which keeps
    text and its own ``GenerationResult`` but turns any other value into ``str(value)``: a plain
    ``(loss, greedy)`` pair would reach its scoring as the string ``"(1.2, False)"`` (and fail
    there, for its own models too). Its ``GenerationResult`` is unwrapped to its ``text`` field
    as it is, so the pair travels inside one. Without lmms-eval the plain pair is returned.
    """
    try:
        from lmms_eval.api.instance import GenerationResult, unwrap_generation_output
    except ImportError:
        return loss, greedy
    if unwrap_generation_output((loss, greedy))[0] == (loss, greedy):  # a release that keeps pairs
        return loss, greedy
    return GenerationResult(text=(loss, greedy))


def _accepts(fn, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def messages_video_and_text(messages, task: str, doc_id: int) -> tuple[str, str]:
    """(video path, prompt) of a chat request's messages: its video items and its text parts
    (user turns; a system turn's text goes first)."""
    visuals, texts = [], []
    for msg in messages or []:
        msg = msg if isinstance(msg, dict) else msg.model_dump()
        content = msg.get("content")
        for item in [content] if isinstance(content, (str, dict)) else (content or []):
            if isinstance(item, str):
                texts.append(item)
            elif item.get("type") == "text":
                texts.append(item.get("text") or "")
            elif item.get("type") == "video":
                visuals.append(item.get("url") or item.get("video"))
    return LongvidLMM._pick_video(visuals, task, doc_id), "\n".join(t for t in texts if t)


class LongvidChatLMM(LongvidLMM):
    """The chat model (lmms-eval 0.7's recommended kind): requests carry ``doc_to_messages``."""

    is_simple = False

    def generate_until(self, requests) -> list[str]:
        out = []
        for req in requests:
            contexts, doc_to_messages, gen_kwargs, doc_id, task, split = req.args
            doc = self._doc(task, split, doc_id)
            messages = doc_to_messages(doc) if callable(doc_to_messages) else doc_to_messages
            video, prompt = messages_video_and_text(messages, task, doc_id)
            text = self.respond(video, prompt or contexts, gen_kwargs, task)
            out.append(text)
            if getattr(self, "cache_hook", None) is not None:
                self.cache_hook.add_partial("generate_until", (contexts, gen_kwargs), text)
        return out
