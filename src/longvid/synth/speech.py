"""Speech synthesised with espeak-ng, as mono float32 samples at 16 kHz.

Design decisions:
- espeak-ng is a system tool (Debian/Ubuntu: ``apt-get install espeak-ng``), not a Python
  package: ``espeak_available()`` says whether it is on PATH, and asking for speech without it
  raises ``MissingDependencyError``; no caller ever gets a silent track instead.
- One synthesiser for every caller, with one default rate (``WORDS_PER_MINUTE``); a caller that
  wants another rate or a normalised level passes it. Results are cached in memory per phrase and
  setting, and on disk under ``cache_dir`` when given (the needle benchmark reuses phrases across
  runs).
- The WAV espeak-ng writes (22.05 kHz, 16-bit) is resampled to ``SAMPLE_RATE`` by linear
  interpolation: ample for speech recognition.
"""

from __future__ import annotations

import functools
import hashlib
import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

from longvid.errors import MissingDependencyError

SAMPLE_RATE = 16_000  # Hz, mono: what speech recognisers read
WORDS_PER_MINUTE = 150  # espeak-ng's speaking rate for every synthetic voice unless a caller asks otherwise


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(
    text: str,
    *,
    words_per_minute: int = WORDS_PER_MINUTE,
    peak: float | None = None,
    cache_dir: str | Path | None = None,
) -> np.ndarray:
    """``text`` spoken by espeak-ng: float32 mono samples at ``SAMPLE_RATE``.

    ``peak``: scale so the loudest sample has this magnitude (None: espeak-ng's own level).
    ``cache_dir``: also keep the samples there as ``.npy`` (reused by later processes).
    """
    return _speak(text, int(words_per_minute), peak, None if cache_dir is None else str(cache_dir))


@functools.lru_cache(maxsize=256)
def _speak(text: str, wpm: int, peak: float | None, cache_dir: str | None) -> np.ndarray:
    cache = None
    if cache_dir is not None:
        tag = hashlib.sha1(f"{text}|{wpm}|{peak}".encode()).hexdigest()[:12]
        cache = Path(cache_dir) / f"speech-{tag}.npy"
        if cache.exists():
            return np.load(cache)
    if not espeak_available():
        raise MissingDependencyError("speech synthesis needs espeak-ng on PATH (Debian/Ubuntu: apt-get install espeak-ng)")
    wav = subprocess.run(["espeak-ng", "-s", str(wpm), "--stdout", text], check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(wav)) as f:
        rate, width, channels = f.getframerate(), f.getsampwidth(), f.getnchannels()
        raw = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16 if width == 2 else np.uint8)
    x = raw.astype(np.float32) / 32768.0 if width == 2 else (raw.astype(np.float32) - 128) / 128
    x = x.reshape(-1, channels).mean(axis=1)
    t_out = np.arange(int(len(x) * SAMPLE_RATE / rate)) / SAMPLE_RATE
    y = np.interp(t_out, np.arange(len(x)) / rate, x).astype(np.float32)
    if peak is not None:
        y = y * (peak / (float(np.abs(y).max()) or 1.0))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, y)
    return y
