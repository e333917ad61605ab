"""The language model and tokenizer of a video-LLM checkpoint, through transformers.

Design decisions:
- The LLM config is built from the checkpoint's own ``config.json`` with the family's transformers
  config class (``Qwen2Config``, ``LlamaConfig``); the multimodal keys ride along unused.
- Before any tensor is read, the checkpoint's keys and shapes are checked against a meta-device
  instance of the LLM plus the multimodal weights the caller expects: a missing, extra or
  misshapen weight is a :class:`ModelLoadError` naming it. Only then does transformers'
  ``from_pretrained`` load the LLM (dtype, tied embeddings, RoPE buffers are its business).
- The tokenizer is loaded with a blank config passed in, never letting transformers read
  ``config.json`` (whose ``model_type`` it does not know; see :func:`load_tokenizer`).
"""

from __future__ import annotations

import importlib.util
import logging
from contextlib import contextmanager
from collections.abc import Iterable, Mapping
from pathlib import Path

from longvid.errors import ModelLoadError, require
from longvid.models.checkpoint import WeightFiles, check_weights, expected_shapes, meta_instance

logger = logging.getLogger(__name__)

_NOT_LLM_KEYS = ("model_type", "architectures", "auto_map", "transformers_version", "_name_or_path")


@contextmanager
def quiet_transformers():
    """Hold transformers' own logger at ERROR for one call (keys were already checked here)."""
    lg = logging.getLogger("transformers")
    old = lg.level
    lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        lg.setLevel(old)


def llm_config(cfg: dict, config_class: str, **overrides):
    transformers = require("transformers", extra="models")
    cls = getattr(transformers, config_class)
    d = {k: v for k, v in cfg.items() if k not in _NOT_LLM_KEYS}
    d.update(overrides)
    return cls.from_dict(d)


def check_checkpoint(weights: WeightFiles, llm_expected: Mapping[str, tuple[int, ...]], *,
                     tied: bool, extra_expected: Mapping[str, tuple[int, ...]],
                     allowed_prefixes: Iterable[str] = ()) -> None:
    """Every key of the checkpoint must be expected (LLM or multimodal) and shaped right."""
    expected = dict(llm_expected)
    expected.update(extra_expected)
    allowed = tuple(allowed_prefixes)
    found = {k: v for k, v in weights.shapes().items() if not (allowed and k.startswith(allowed))}
    check_weights(expected, found, where=str(weights.folder), optional={"lm_head.weight"} if tied else ())


def load_llm(folder: Path, text_config, model_class: str, *, dtype, device):
    """``model_class.from_pretrained`` on the folder (keys already checked), in eval mode."""
    transformers = require("transformers", extra="models")
    cls = getattr(transformers, model_class)
    kwargs = {"config": text_config, "dtype": dtype}
    use_map = str(device) != "cpu" and importlib.util.find_spec("accelerate") is not None
    if use_map:  # place weights straight on the device instead of staging them in host memory
        kwargs["device_map"] = {"": str(device)}
    try:
        with quiet_transformers():  # its load report lists our multimodal keys as "unexpected"
            model = cls.from_pretrained(str(folder), **kwargs)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"transformers could not load the language model from {folder}: {exc}") from exc
    if not use_map:
        model.to(device)
    return model.eval()


def llm_shapes(text_config, model_class: str) -> dict[str, tuple[int, ...]]:
    transformers = require("transformers", extra="models")
    return expected_shapes(meta_instance(getattr(transformers, model_class), text_config))


def load_tokenizer(folder: Path):
    """The folder's tokenizer, as its ``tokenizer_config.json`` declares it.

    transformers is handed a blank config so that it never parses ``config.json`` itself: that
    file's ``model_type`` (``cambrian_llama``, ``llava_qwen``) is unknown to it, and the generic
    config it falls back to cannot read Llama-3.2's ``llama3`` ``rope_scaling`` (it fails on
    ``max_position_embeddings``). The blank config has no ``model_type``, as that fallback had,
    so the tokenizer class is the one the folder names (a typed ``LlamaConfig`` or ``Qwen2Config``
    would make transformers swap in its own class for the model type, which decodes differently).
    """
    transformers = require("transformers", extra="models")
    blank = getattr(transformers, "PreTrainedConfig", None) or transformers.PretrainedConfig
    try:
        with quiet_transformers():
            return transformers.AutoTokenizer.from_pretrained(str(folder), config=blank())
    except Exception as exc:  # transformers raises many kinds here
        raise ModelLoadError(
            f"cannot load the tokenizer from {folder} ({type(exc).__name__}: {exc}); the folder must hold "
            "tokenizer.json and tokenizer_config.json (or the tokenizer's vocabulary files)"
        ) from exc
