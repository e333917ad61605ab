"""One registry pattern for every pluggable part (decoders, encoders, compressors, engines...).

Design:
- ``Registry("compressor")`` holds name -> factory. ``@REG.register("name")`` adds one,
  ``REG.create("name", **kw)`` builds one, ``REG.list()`` names them all.
- Third parties add theirs through the entry-point group ``longvid.<kind>s`` (for example
  ``longvid.compressors``); entry points are read lazily, on the first lookup that misses.
- Unknown names raise ``KeyError`` listing the known ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.group = f"longvid.{kind}s"
        self._factories: dict[str, Callable[..., T]] = {}
        self._entry_points_loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return deco

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            if ep.name in self._factories:
                continue
            try:
                self._factories[ep.name] = ep.load()
            except Exception:  # a broken plugin must not break the library
                logger.exception("could not load %s plugin %r from %s", self.kind, ep.name, ep.value)

    def get(self, name: str) -> Callable[..., T]:
        if name not in self._factories:
            self._load_entry_points()
        try:
            return self._factories[name]
        except KeyError:
            raise KeyError(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._factories)) or '(none)'}"
            ) from None

    def create(self, name: str, /, **kwargs) -> T:
        return self.get(name)(**kwargs)

    def list(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except KeyError:
            return False
        return True
