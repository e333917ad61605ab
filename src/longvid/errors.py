"""Typed errors. Each message says what was wrong and what to do about it."""

from __future__ import annotations


class LongvidError(Exception):
    """Base of every error longvid raises on purpose."""


class VideoError(LongvidError):
    """A video could not be used."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The path does not exist, or is a directory where a file was expected."""


class NotAVideoError(VideoError):
    """The file is not a readable media container (zero bytes, text, corrupt header)."""


class NoVideoStreamError(VideoError):
    """The container opened but holds no video stream (audio only, subtitles only)."""


class CorruptVideoError(VideoError):
    """Decoding failed part-way (truncated or damaged file)."""


class VideoTooShortError(VideoError):
    """The video is shorter than what was asked of it (zero duration, shorter than one interval)."""


class InvalidSamplingError(LongvidError, ValueError):
    """A sampling option is out of range (fps, count, cap, size)."""


class InvalidFeaturesError(LongvidError, ValueError):
    """Features, tokens or a query do not have the shape, dtype or alignment a stage needs."""


class BudgetError(LongvidError, ValueError):
    """A token or memory budget cannot be met."""


class ModelLoadError(LongvidError):
    """A model folder or checkpoint is missing, incomplete or does not match its config."""


class IndexCorruptError(LongvidError):
    """A stored index failed its integrity check."""


class MissingDependencyError(LongvidError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, *, extra: str, package: str | None = None):
    """Import an optional dependency lazily, or raise naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module
        raise MissingDependencyError(
            f"{pkg!r} is needed for this feature: pip install 'longvid[{extra}]'"
        ) from exc


class CompressorContractError(LongvidError, RuntimeError):
    """A compressor's output breaks the compressor contract (for example more tokens than the budget).

    A bug in that compressor, not in the caller's input: raised instead of an ``assert`` so that it
    also holds under ``python -O`` for third-party strategies.
    """
