"""Where the offline engine keeps what it derives: indexes, converted model weights, demo media.

Design decisions:
- One root: ``$LONGVID_CACHE`` if set, else ``~/.cache/longvid``; every caller may pass its own.
- Files are written atomically (temp file in the same folder, then ``os.replace``) so a crash
  never leaves a half-written file under its final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV_VAR = "LONGVID_CACHE"


def cache_root(override: str | os.PathLike | None = None) -> Path:
    """The cache folder (created): ``override``, else ``$LONGVID_CACHE``, else ``~/.cache/longvid``."""
    if override is not None:
        root = Path(override)
    elif os.environ.get(ENV_VAR):
        root = Path(os.environ[ENV_VAR])
    else:
        root = Path.home() / ".cache" / "longvid"
    root = root.expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def atomic_path(final: Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``final``; on success it is renamed onto ``final``, else removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
