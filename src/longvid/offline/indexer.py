"""Build (or find) the index of a video: ingest -> visual -> speech -> timeline -> store.

Design decisions:
- ``Indexer.index(video)`` returns a loaded ``VideoIndex``; an existing matching index is reused
  (no model is loaded at all), so every question after the first costs only retrieval + answer.
- Resumable: each stage checkpoints into a work folder beside the index
  (``<settings key>.work/``): the visual pass every ``checkpoint_frames`` frames, speech after
  every audio chunk (``speech.jsonl``, one line per chunk, each line final). An interrupted run
  (Ctrl-C, crash, power) resumes from the last checkpoint; nothing completed is redone.
- Models are created on first need and kept by the ``Indexer`` (one per engine), so indexing a
  folder of videos loads each model once.
- A video without an audio stream gets a visual-only index (logged, and recorded in the
  manifest), never an error; a video whose audio holds no speech simply has no transcript.
- Subtitles (embedded, or sidecar files beside the video) are read when the index is built; the
  key is the video's content, so a sidecar file added later needs ``rebuild=True``.
- Progress: ``progress(stage, done, total)`` after each step of each stage (stage names:
  "visual", "speech", "embed"); the CLI draws one bar per stage from it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from longvid.offline.cache import cache_root
from longvid.offline.config import INDEX_FORMAT_VERSION, IndexSettings
from longvid.offline.hashing import content_hash
from longvid.offline.store import VideoIndex, index_folder, open_index, read_manifest, write_index
from longvid.types import TimedText

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str, float, float], None]


class Indexer:
    def __init__(
        self,
        settings: IndexSettings | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        progress: ProgressFn | None = None,
        models: dict[str, object] | None = None,
    ) -> None:
        """``models``: a dict of already created stage models to share (e.g. another indexer's
        ``models``); only used where this indexer's settings name the same parts."""
        self.settings = settings or IndexSettings()
        self.cache = cache_root(cache_dir)
        self.progress = progress
        self.models: dict[str, object] = models if models is not None else {}

    # ------------------------------------------------------------------ models, created once
    def model(self, kind: str):
        if kind not in self.models:
            s = self.settings
            if kind == "encoder":
                from longvid.encoders import create_encoder

                self.models[kind] = create_encoder(s.encoder)
            elif kind == "ocr":
                from longvid.offline.ocr import OCR_ENGINES

                self.models[kind] = None if s.ocr == "none" else OCR_ENGINES.create(
                    s.ocr, min_confidence=s.ocr_min_confidence, max_side=s.ocr_max_side,
                    min_chars=s.ocr_min_chars
                )
            elif kind == "speech":
                from longvid.offline.speech import SPEECH_ENGINES

                self.models[kind] = None if s.speech == "none" else SPEECH_ENGINES.create(s.speech)
            elif kind == "embedder":
                from longvid.offline.embed import TEXT_EMBEDDERS

                self.models[kind] = TEXT_EMBEDDERS.create(s.embedder)
            else:
                raise KeyError(kind)
        return self.models[kind]

    # ------------------------------------------------------------------ lookup
    def folder_for(self, video: str | os.PathLike) -> Path:
        return index_folder(self.cache, content_hash(video), self.settings.key())

    def find(self, video: str | os.PathLike) -> VideoIndex | None:
        """The existing, verified index of ``video`` for these settings, or None."""
        folder = self.folder_for(video)
        manifest = read_manifest(folder)
        if manifest is None:
            return None
        if manifest.get("format_version") != INDEX_FORMAT_VERSION or manifest.get("settings") != self.settings.as_dict():
            logger.warning("index at %s was made by another version or with other settings: rebuilding", folder)
            shutil.rmtree(folder)
            return None
        return open_index(folder, manifest)

    # ------------------------------------------------------------------ build
    def index(self, video: str | os.PathLike, *, rebuild: bool = False) -> VideoIndex:
        from longvid.io import probe

        info = probe(video)  # typed errors for a missing / non-video / broken file
        folder = self.folder_for(video)
        if rebuild and folder.exists():
            shutil.rmtree(folder)
        found = self.find(video)
        if found is not None:
            return found
        t_all = time.perf_counter()
        work = folder.with_name(folder.name + ".work")
        work.mkdir(parents=True, exist_ok=True)
        timings: dict[str, float] = {}

        t0 = time.perf_counter()
        track = self._visual(str(video), work, info)
        timings["visual_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        speech, speech_note = self._speech(str(video), work, info)
        timings["speech_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        subs: list[TimedText] = []
        if self.settings.subtitles:
            from longvid.io import read_subtitles

            subs = [TimedText(c.start_s, c.end_s, c.text, "subtitle") for c in read_subtitles(video)]
        timings["subtitles_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        from longvid.offline.timeline import build_segments, ocr_track

        on_screen = ocr_track(track.reads, info.duration_s)
        segments = build_segments(
            track.times, track.features, track.probs, track.cuts, track.keyframes,
            sorted(speech + subs, key=lambda x: x.start_s), on_screen, self.settings, info.duration_s,
        )
        self._report("embed", 0, len(segments))
        emb = self.model("embedder").embed([s.document() for s in segments])
        self._report("embed", len(segments), len(segments))
        timings["timeline_embed_s"] = time.perf_counter() - t0
        timings["total_s"] = time.perf_counter() - t_all

        manifest = {
            "video": str(Path(video).resolve()),
            "content_hash": folder.parent.name,
            "settings": self.settings.as_dict(),
            "duration_s": info.duration_s,
            "frames": len(track.times),
            "kept_frames": int(track.kept.sum()),
            "ocr_reads": sum(1 for r in track.reads if r.text is not None),
            "speech": speech_note,
            "subtitle_cues": len(subs),
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_index(folder, manifest, segments, emb, work / "keyframes")
        shutil.rmtree(work, ignore_errors=True)
        logger.info("indexed %s: %d segments in %.1f s", video, len(segments), timings["total_s"])
        return open_index(folder, read_manifest(folder))

    def _report(self, stage: str, done: float, total: float) -> None:
        if self.progress:
            self.progress(stage, done, total)

    def _visual(self, video: str, work: Path, info):
        from longvid.offline.visual import run_visual

        return run_visual(
            video, work, self.settings, encoder=self.model("encoder"), ocr=self.model("ocr"), info=info,
            progress=lambda d, t: self._report("visual", d, t),
        )

    def _speech(self, video: str, work: Path, info) -> tuple[list[TimedText], str]:
        if self.settings.speech == "none":
            return [], "disabled"
        if not info.has_audio:
            logger.info("%s has no audio stream: visual-only index", video)
            return [], "no audio stream"
        from longvid.io import iter_audio

        path = work / "speech.jsonl"
        items: list[TimedText] = []
        done_until = 0.0
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line cut by an interruption: that chunk is redone
                done_until = rec["done_until_s"]
                items.extend(TimedText(**d) for d in rec["items"])
            if done_until:
                logger.info("resuming speech after %.0f s", done_until)
        total = info.duration_s

        def clips():
            for clip in iter_audio(video, chunk_s=self.settings.speech_chunk_s):
                end = clip.start_s + clip.duration_s
                if end <= done_until:
                    continue
                if clip.start_s < done_until:
                    cut = int((done_until - clip.start_s) * clip.sample_rate)
                    clip = type(clip)(clip.samples[cut:], clip.sample_rate, clip.start_s + cut / clip.sample_rate)
                yield clip

        self._report("speech", done_until, total)
        recogniser = self.model("speech")
        with open(path, "a") as f:
            for until, segs in recogniser.transcribe(clips()):
                items.extend(segs)
                rec = {"done_until_s": until, "items": [
                    {"start_s": s.start_s, "end_s": s.end_s, "text": s.text, "source": s.source, "confidence": s.confidence}
                    for s in segs]}
                f.write(json.dumps(rec) + "\n")
                f.flush()
                os.fsync(f.fileno())
                self._report("speech", min(until, total), total)
        self._report("speech", total, total)
        return items, f"{len(items)} segments" if items else "no speech found"


def embed_query(indexer: Indexer, text: str) -> np.ndarray:
    return indexer.model("embedder").embed([text])[0]
