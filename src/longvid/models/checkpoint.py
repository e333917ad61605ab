"""Finding, checking and reading released checkpoints (a local folder or a hub id).

Design decisions:
- ``resolve_model_dir`` takes a folder or a hub id. A hub id is fetched with
  ``huggingface_hub.snapshot_download`` (the local cache first, then the network); when neither
  works the error names the files to download and where to put them. Nothing else touches the net.
- Weights are read from ``*.safetensors`` only (sharded or not), through their headers first:
  every key and shape is checked against what the model expects *before* anything is loaded, so a
  missing, extra or misshapen weight is a :class:`ModelLoadError` naming it, never a silent
  re-initialisation or a shape error deep inside a forward pass.
- The LLM body goes through transformers' own ``from_pretrained`` (dtype, device placement, tied
  embeddings, RoPE buffers); the multimodal parts (projectors, aggregator, newline) are read by key
  from the same files into our own modules.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from longvid.errors import ModelLoadError, require

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

WEIGHT_FILES_HELP = "config.json, the *.safetensors weights (with model.safetensors.index.json if sharded) and the tokenizer files (tokenizer.json, tokenizer_config.json)"


def _looks_like_hub_id(s: str) -> bool:
    parts = s.split("/")
    return len(parts) == 2 and all(parts) and not s.startswith((".", "~", "/")) and "\\" not in s


def resolve_model_dir(model: str, *, local_files_only: bool = False) -> Path:
    """A folder holding ``config.json`` and weights, from a path or a hub id."""
    p = Path(model).expanduser()
    if p.exists():
        if not p.is_dir():
            raise ModelLoadError(f"{model!r} is a file; pass the folder that holds {WEIGHT_FILES_HELP}")
        if not (p / "config.json").is_file():
            raise ModelLoadError(f"{str(p)!r} has no config.json; the model folder must hold {WEIGHT_FILES_HELP}")
        return p
    if not _looks_like_hub_id(model):
        raise ModelLoadError(
            f"model folder {model!r} does not exist; pass an existing folder holding {WEIGHT_FILES_HELP}, "
            "or a Hugging Face hub id such as Vision-CAIR/LongVU_Qwen2_7B"
        )
    hub = require("huggingface_hub", extra="models", package="huggingface-hub")
    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.jinja"]
    try:
        return Path(hub.snapshot_download(model, allow_patterns=patterns, local_files_only=True))
    except Exception:
        if local_files_only:
            err: Exception | None = None
        else:
            try:
                return Path(hub.snapshot_download(model, allow_patterns=patterns))
            except Exception as exc:  # network down, unknown repo, gated repo...
                err = exc
    detail = f" ({type(err).__name__}: {err})" if err is not None else " (offline mode)"
    raise ModelLoadError(
        f"could not get {model!r} from the Hugging Face hub{detail}. On a machine with network run "
        f"`huggingface-cli download {model} --local-dir <DIR>`, copy <DIR> here and pass it instead "
        f"of the hub id; it must hold {WEIGHT_FILES_HELP}"
    ) from err


def read_config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {folder / 'config.json'}: {exc}") from exc


class WeightFiles:
    """Keys, shapes and tensors of a folder's safetensors files, read lazily by key."""

    def __init__(self, folder: Path) -> None:
        require("safetensors", extra="models")
        from safetensors import safe_open

        self.folder = folder
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            bins = sorted(p.name for p in folder.glob("*.bin"))
            hint = f" (found {', '.join(bins)}: convert them to safetensors)" if bins else ""
            raise ModelLoadError(f"no *.safetensors weights in {folder}{hint}; the folder must hold {WEIGHT_FILES_HELP}")
        index = folder / "model.safetensors.index.json"
        if index.is_file():
            wanted = set(json.loads(index.read_text()).get("weight_map", {}).values())
            absent = sorted(w for w in wanted if not (folder / w).is_file())
            if absent:
                raise ModelLoadError(f"{index} lists weight files that are not there: {', '.join(absent)}")
        self._file_of: dict[str, Path] = {}
        self._shape: dict[str, tuple[int, ...]] = {}
        for f in files:
            with safe_open(str(f), framework="pt") as h:
                for k in h.keys():
                    self._file_of[k] = f
                    self._shape[k] = tuple(h.get_slice(k).get_shape())

    def keys(self) -> set[str]:
        return set(self._shape)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self._shape)

    def load(self, keys: Iterable[str], *, strip: str = "") -> dict[str, torch.Tensor]:
        """Tensors for ``keys`` (CPU), named without the ``strip`` prefix."""
        from safetensors import safe_open

        by_file: dict[Path, list[str]] = {}
        for k in keys:
            by_file.setdefault(self._file_of[k], []).append(k)
        out = {}
        for f, ks in by_file.items():
            with safe_open(str(f), framework="pt") as h:
                for k in ks:
                    out[k[len(strip):] if strip and k.startswith(strip) else k] = h.get_tensor(k)
        return out


def _fmt(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" ... ({len(names)} in all)" if len(names) > limit else "")


def check_weights(
    expected: Mapping[str, tuple[int, ...]],
    found: Mapping[str, tuple[int, ...]],
    *,
    where: str,
    optional: Iterable[str] = (),
) -> None:
    """Raise :class:`ModelLoadError` naming missing, extra and misshapen weights."""
    optional = set(optional)
    missing = sorted(k for k in expected if k not in found and k not in optional)
    extra = sorted(k for k in found if k not in expected)
    misshapen = sorted(
        f"{k} (file {list(found[k])}, model {list(expected[k])})"
        for k in expected
        if k in found and tuple(found[k]) != tuple(expected[k])
    )
    problems = []
    if missing:
        problems.append(f"missing weights: {_fmt(missing)}")
    if extra:
        problems.append(f"unexpected weights: {_fmt(extra)}")
    if misshapen:
        problems.append(f"misshapen weights: {_fmt(misshapen)}")
    if problems:
        raise ModelLoadError(
            f"the checkpoint in {where} does not match its config.json: " + "; ".join(problems)
            + ". Re-download the folder, or fix config.json to describe these weights."
        )


def expected_shapes(module, prefix: str = "") -> dict[str, tuple[int, ...]]:
    return {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}


def meta_instance(cls, config):
    """Build ``cls(config)`` on the meta device: shapes only, no memory."""
    import torch

    with torch.device("meta"):
        return cls(config)


def load_module_weights(module, tensors: Mapping[str, torch.Tensor], *, where: str) -> None:
    """Strictly load ``tensors`` into ``module`` (keys already checked), keeping its dtype/device."""
    exp = expected_shapes(module)
    check_weights(exp, {k: tuple(v.shape) for k, v in tensors.items()}, where=where)
    p = next(iter(module.parameters()), None)
    dtype = p.dtype if p is not None else None
    module.load_state_dict({k: v.to(dtype) if v.is_floating_point() and dtype else v for k, v in tensors.items()})
