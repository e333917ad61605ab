"""One registry pattern for every pluggable part (decoders, encoders, compressors, engines...).

Design decisions:
- ``Registry("compressor", builtins={...})`` holds name -> factory. ``register``, ``create``
  and ``list`` are the only surface a kind exposes; each kind's module publishes them once as
  ``register_compressor = COMPRESSORS.register`` (and so on), so the trio is never rewritten.
- Built-ins are named up front as name -> module; the module is imported on the first lookup of
  one of its names, so ``import longvid`` stays light (no torch, no transformers). Nothing outside
  this class touches the factory table.
- Third parties add theirs through the entry-point group ``longvid.<plural>`` (for example
  ``longvid.compressors``, ``longvid.ocr_engines``); entry points are read lazily, on the first
  lookup that misses and on ``list()``. A plugin that fails to load is logged, never fatal.
- Unknown names raise ``KeyError`` listing the known ones.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F", bound=Callable)


class Registry(Generic[T]):
    """Named factories of one kind of part; see the module docstring."""

    def __init__(self, kind: str, *, plural: str | None = None, builtins: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.group = f"longvid.{self.plural}"  # entry-point group for third-party parts
        self._factories: dict[str, Callable[..., T]] = {}
        self._builtins = dict(builtins or {})  # name -> module that registers it on import
        self._entry_points_loaded = False

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: ``@REGISTRY.register("name")`` on a class or factory function."""

        def deco(factory: F) -> F:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return deco

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name`` (importing its built-in module or plugin if needed)."""
        if name not in self._factories and name in self._builtins:
            importlib.import_module(self._builtins[name])
        if name not in self._factories:
            self._load_entry_points()
        try:
            return self._factories[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.list()) or '(none)'}") from None

    def create(self, name: str, /, **options) -> T:
        """Build the part registered as ``name`` with its keyword options."""
        return self.get(name)(**options)

    def list(self) -> list[str]:
        """Every name that ``create`` accepts: registered, built-in (not yet imported) and plugins."""
        self._load_entry_points()
        return sorted(set(self._factories) | set(self._builtins))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.list()

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            if ep.name in self._factories or ep.name in self._builtins:
                continue
            try:
                self._factories[ep.name] = ep.load()
            except Exception:  # a broken plugin must not break the library
                logger.exception("could not load %s plugin %r from %s", self.kind, ep.name, ep.value)
