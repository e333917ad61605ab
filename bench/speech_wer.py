"""Word error rate and speed of the packaged Whisper models on real recorded speech.

Reference data: Debian's ``pocketsphinx-testdata`` (LibriVox "Sense and Sensibility" utterances
and spoken card names, 16 kHz, with transcripts), unpacked without installing:

    apt-get download pocketsphinx-testdata && dpkg -x pocketsphinx-testdata_*.deb .wheels/ps
    python bench/speech_wer.py --data .wheels/ps/usr/share/pocketsphinx/test/data \
        --model tiny.en=packaged --model base=.wheels/speech/base

``--model NAME=DIR`` is a CTranslate2 Whisper folder (``packaged``: the default tiny.en of
longvid.offline.speech). Prints WER per model and set, and seconds of compute per hour of audio.
"""

from __future__ import annotations

import argparse
import re
import time
import wave
from pathlib import Path

import numpy as np


def words(text: str) -> list[str]:
    text = text.lower().replace("mister", "mr").replace("-", " ")
    return re.findall(r"[a-z0-9']+", text)


def wer(ref: list[str], hyp: list[str]) -> int:
    """Edit distance in words (substitutions + insertions + deletions)."""
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
            prev, d[j] = d[j], cur
    return d[len(hyp)]


_NUM = "zero one two three four five six seven eight nine ten".split()


def normalise(ws: list[str]) -> list[str]:
    return [_NUM[int(w)] if w.isdigit() and int(w) <= 10 else w for w in ws]


def load_sets(data: Path) -> dict[str, list[tuple[np.ndarray, list[str]]]]:
    sets = {}
    for name, folder, trans in (("librivox", "librivox", "transcription"), ("cards", "cards", "cards.transcription")):
        items = []
        for line in (data / folder / trans).read_text().splitlines():
            m = re.match(r"\s*<s>(.*)</s>\s*\((.+)\)", line)
            if not m:
                continue
            with wave.open(str(data / folder / f"{m.group(2)}.wav")) as w:
                pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
                assert w.getframerate() == 16000
            items.append((pcm, normalise(words(m.group(1)))))
        sets[name] = items
    return sets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--model", action="append", required=True, help="NAME=DIR (DIR 'packaged': the default tiny.en)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from faster_whisper import WhisperModel

    sets = load_sets(args.data)
    for spec in args.model:
        name, path = spec.split("=", 1)
        if path == "packaged":
            from longvid.offline.speech import packaged_whisper_path

            path = packaged_whisper_path()
        model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=args.threads)
        model.transcribe(sets["cards"][0][0], language="en")  # warm-up
        for set_name, items in sets.items():
            errs = n = 0
            audio_s = compute_s = 0.0
            for pcm, ref in items:
                t0 = time.perf_counter()
                segs, _ = model.transcribe(pcm, language="en", beam_size=1)
                hyp = normalise(words(" ".join(s.text for s in segs)))
                compute_s += time.perf_counter() - t0
                audio_s += len(pcm) / 16000
                errs += wer(ref, hyp)
                n += len(ref)
            print(f"{name:8s} {set_name:9s} WER {100 * errs / n:5.1f}% ({errs}/{n} words), "
                  f"{compute_s / audio_s * 3600 / 60:.1f} min per hour of audio ({audio_s:.0f} s audio)")


if __name__ == "__main__":
    main()
