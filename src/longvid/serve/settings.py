"""Every option of ``longvid serve``, with its default, in one frozen dataclass.

Design decisions:
- The CLI, the tests and ``bench/serve_load.py`` all build a ``ServeSettings``; no other module
  holds a default of its own.
- Contradictory or unsafe combinations are refused here, before anything starts: ``engine`` and
  ``model`` together, a non-loopback ``host`` without an API key, limits that are not positive.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from longvid.errors import LongvidError

API_KEY_ENV = "LONGVID_API_KEY"  # where the API key is read from when --api-key is not given
DEFAULT_ENGINE = "offline"  # the engine used when neither an engine nor a model is named


class ServeConfigError(LongvidError, ValueError):
    """The server's options contradict each other or are out of range."""


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"  # loopback only unless asked; any other host needs an API key
    port: int = 8000  # 0: the system picks a free port (tests)
    engine: str | None = None  # a registered engine name; None: DEFAULT_ENGINE (unless ``model``)
    model: str | None = None  # a video-LLM checkpoint (hub id or folder) answered with instead
    device: str | None = None  # device for ``model``; None: cuda when available, else cpu
    cache_dir: str | None = None  # indexes, uploads and job records; None: longvid's cache root
    models_dir: str | None = None  # converted offline models, when they live apart from cache_dir
    allow_dirs: tuple[str, ...] = ()  # file:// URLs are served only from inside these; none: refused
    api_key: str | None = None  # required on every API route when set
    max_upload_bytes: int = 4 * 1024**3  # uploads larger than this are refused (413) while streaming in
    max_duration_s: float = 6 * 3600.0  # uploaded or file:// videos longer than this are refused
    index_workers: int = 1  # concurrent indexing jobs; each worker holds its own models (~1 GB)
    max_queued_jobs: int = 64  # indexing jobs waiting beyond this are refused (503) instead of piling up
    stream_poll_s: float = 0.25  # how often progress streams look for news
    extra: dict = field(default_factory=dict, compare=False)  # engine options passed to create_engine

    def __post_init__(self) -> None:
        if self.engine is not None and self.model is not None:
            raise ServeConfigError(
                f"--engine {self.engine} and --model {self.model} contradict each other: "
                "give --model to answer with a video-LLM, or --engine for a registered engine"
            )
        if not 0 <= self.port <= 65535:
            raise ServeConfigError(f"--port must be 0-65535, got {self.port}")
        for name in ("max_upload_bytes", "max_duration_s", "index_workers", "max_queued_jobs", "stream_poll_s"):
            if getattr(self, name) <= 0:
                raise ServeConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.api_key and not is_loopback(self.host):
            raise ServeConfigError(
                f"--host {self.host} exposes the server beyond this machine: set --api-key "
                f"(or ${API_KEY_ENV}) first, or keep the default 127.0.0.1"
            )
        for d in self.allow_dirs:
            if not Path(d).expanduser().is_dir():
                raise ServeConfigError(f"--allow-dir {d!r} is not an existing folder")

    @property
    def engine_name(self) -> str | None:
        """The registered engine answering questions; None when a ``model`` does."""
        if self.model is not None:
            return None
        return self.engine or DEFAULT_ENGINE

    @property
    def model_id(self) -> str:
        """The name ``GET /v1/models`` lists and requests must name."""
        if self.model is not None:
            return Path(self.model.rstrip("/")).name if os.path.isdir(self.model) else self.model
        return f"longvid-{self.engine_name}"

    @property
    def allowed_roots(self) -> tuple[Path, ...]:
        """The allowed folders with symlinks resolved (what containment is checked against)."""
        return tuple(Path(d).expanduser().resolve() for d in self.allow_dirs)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
