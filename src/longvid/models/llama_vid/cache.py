"""On-disk cache of per-frame EVA features, keyed by content, so a second question costs no encoding.

Design decisions:
- The key is a hash of the video file's bytes, the sampling (rate or count, cap, exact times
  planned), and the encoder's identity (its config and a fingerprint of its weights): another
  file with the same name, another sampling or other weights never hit an old entry.
- An entry is one safetensors file (no pickle) holding the frames' EVA tokens (class token
  first), their times and indices; it is written to a temporary name and renamed, so a crash
  never leaves half an entry.
- The original's long-video mode stores features extracted offline and feeds them back; this is
  the same idea, made automatic.
- A video's speech transcript (when it is interleaved) is cached in the same folder as JSON,
  under its own key, so a second question neither encodes nor transcribes again.
- A file's digest is remembered per (path, size, modification time) within a process: the
  features and the transcript both need it, and hashing an hour of video twice is wasted time.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from longvid.types import TimedText

logger = logging.getLogger(__name__)

SUBFOLDER = "llama_vid"


def default_dir() -> Path:
    """``$LONGVID_CACHE/llama_vid``, else ``~/.cache/longvid/llama_vid`` (longvid's one cache root)."""
    root = os.environ.get("LONGVID_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "longvid") / SUBFOLDER


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    st = os.stat(path)
    return _digest(os.path.abspath(path), st.st_size, st.st_mtime_ns, chunk)


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int, chunk: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A cheap content hash of a tower: every tensor's shape, and the bytes of a few of them."""
    h = hashlib.sha256()
    state = module.state_dict()
    for i, (k, v) in enumerate(sorted(state.items())):
        h.update(f"{k}{tuple(v.shape)}".encode())
        if i % 7 == 0:  # a sample of the tensors is enough to tell two trained towers apart
            h.update(v.detach().float().cpu().numpy().tobytes()[:65536])
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class CachedFrames:
    tokens: torch.Tensor  # (T, 1 + N, C) EVA tokens
    timestamps_s: torch.Tensor  # (T,) float64
    frame_indices: torch.Tensor  # (T,) int64


class FeatureCache:
    """A folder of cached frame features (default: :func:`default_dir`); ``None`` disables caching."""

    def __init__(self, folder: str | os.PathLike | None | object = ...) -> None:
        self.folder = default_dir() if folder is ... else None if folder is None else Path(folder)

    def key(self, video: str, sampling: dict, encoder: str) -> str:
        blob = json.dumps({"video": file_digest(video), "sampling": sampling, "encoder": encoder}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{key}.safetensors"

    def get(self, key: str) -> CachedFrames | None:
        p = self.path(key)
        if p is None or not p.is_file():
            return None
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            d = load_file(str(p))
        except (OSError, SafetensorError) as exc:  # a damaged entry is recomputed, not fatal
            logger.warning("ignoring unreadable feature cache entry %s: %s", p, exc)
            return None
        logger.info("frame features from the cache: %s", p)
        return CachedFrames(d["tokens"], d["timestamps_s"], d["frame_indices"])

    def put(self, key: str, frames: CachedFrames) -> None:
        p = self.path(key)
        if p is None:
            return
        from safetensors.torch import save_file

        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        save_file({"tokens": frames.tokens.contiguous().cpu(), "timestamps_s": frames.timestamps_s.cpu(),
                   "frame_indices": frames.frame_indices.cpu()}, str(tmp))
        os.replace(tmp, p)

    # ------------------------------------------------------------------ transcripts (JSON)
    def texts_path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{key}.transcript.json"

    def get_texts(self, key: str) -> list[TimedText] | None:
        p = self.texts_path(key)
        if p is None or not p.is_file():
            return None
        try:
            items = [TimedText(**d) for d in json.loads(p.read_text())]
        except (OSError, ValueError, TypeError) as exc:  # a damaged entry is recomputed, not fatal
            logger.warning("ignoring unreadable transcript cache entry %s: %s", p, exc)
            return None
        logger.info("transcript from the cache: %s", p)
        return items

    def put_texts(self, key: str, items: list[TimedText]) -> None:
        p = self.texts_path(key)
        if p is None:
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps([dataclasses.asdict(t) for t in items]))
        os.replace(tmp, p)
