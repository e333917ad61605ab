"""Build (or find) the index of a video: ingest -> visual -> speech -> timeline -> store.

Design decisions:
- ``Indexer.index(video)`` returns a loaded ``VideoIndex``; an existing matching index is reused
  (no model is loaded at all), so every question after the first costs only retrieval + answer.
- Resumable: each stage checkpoints into a stage folder beside the index
  (``<settings key>.stages/``): the visual pass every ``checkpoint_frames`` frames, speech after
  every audio chunk (``speech.jsonl``, one line per chunk, each line final). An interrupted run
  (Ctrl-C, crash, power) resumes from the last checkpoint; nothing completed is redone.
- A finished stage's result stays in the stage folder (``visual.npz`` + ``visual.json``, the
  keyframes, ``speech.jsonl`` + ``speech.done``; ~16 MB per hour of video, mostly frame
  features): the index key is the video's content, the settings *and* the sidecar subtitle
  files (``longvid.io.subtitles.sidecar_fingerprint``: their names and bytes), so adding or
  editing a ``.srt`` makes a new index whose visual and speech stages are read back from here
  (no model loaded, no frame decoded) and only the subtitles, timeline and embeddings are
  redone. The same video with another ``.srt`` never gets the first one's index; switching back
  finds the earlier index again. ``rebuild=True`` clears the stage folder too.
- Models are created on first need and kept by the ``Indexer`` (one per engine), so indexing a
  folder of videos loads each model once.
- A video without an audio stream gets a visual-only index (logged, and recorded in the
  manifest), never an error; a video whose audio holds no speech simply has no transcript.
- Subtitles (embedded, or sidecar files beside the video) are read when the index is built.
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

from longvid.io.subtitles import sidecar_files
from longvid.offline.cache import atomic_path, cache_root
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
        """The index folder of ``video``: content hash / settings key (+ sidecar fingerprint)."""
        key = self.settings.key()
        side = self.sidecars_of(video)
        return index_folder(self.cache, content_hash(video), f"{key}-s{side}" if side else key)

    def stages_for(self, video: str | os.PathLike) -> Path:
        """The stage folder of ``video``: checkpoints and finished visual and speech results,
        shared by the indexes of every sidecar variant."""
        return index_folder(self.cache, content_hash(video), self.settings.key() + ".stages")

    def sidecars_of(self, video: str | os.PathLike) -> str:
        if not self.settings.subtitles:
            return ""
        from longvid.io.subtitles import sidecar_fingerprint

        return sidecar_fingerprint(video)

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
        # an index made before sidecars were part of the key records none: it may hold the cues of
        # a sidecar file since removed or changed, so it is rebuilt (the stages it needs are redone)
        if manifest.get("sidecars", {}).get("fingerprint") != self.sidecars_of(video):
            logger.warning("index at %s was made from other subtitle files: rebuilding", folder)
            shutil.rmtree(folder)
            return None
        return open_index(folder, manifest)

    # ------------------------------------------------------------------ build
    def index(self, video: str | os.PathLike, *, rebuild: bool = False) -> VideoIndex:
        from longvid.io import probe

        info = probe(video)  # typed errors for a missing / non-video / broken file
        folder = self.folder_for(video)
        work = self.stages_for(video)
        if rebuild:
            for old in (folder, work):
                if old.exists():
                    shutil.rmtree(old)
        found = self.find(video)
        if found is not None:
            return found
        t_all = time.perf_counter()
        work.mkdir(parents=True, exist_ok=True)
        timings: dict[str, float] = {}
        reused: list[str] = []

        t0 = time.perf_counter()
        track = load_visual(work)
        if track is None:
            track = self._visual(str(video), work, info)
            save_visual(work, track)
        else:
            logger.info("%s: visual pass read back from %s (frames not decoded again)", video, work)
            reused.append("visual")
        timings["visual_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        speech, speech_note, speech_reused = self._speech(str(video), work, info)
        if speech_reused:
            logger.info("%s: transcript read back from %s", video, work)
            reused.append("speech")
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
            "sidecars": {"fingerprint": self.sidecars_of(video),
                         "files": [f.name for f in sidecar_files(video)] if self.settings.subtitles else []},
            "reused_stages": reused,
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        # the index takes a copy of the keyframes: the stage folder keeps its own for the next variant
        shipped = work / f".keyframes.{os.getpid()}"
        if shipped.exists():
            shutil.rmtree(shipped)
        if (work / "keyframes").exists():
            shutil.copytree(work / "keyframes", shipped)
        write_index(folder, manifest, segments, emb, shipped)
        shutil.rmtree(shipped, ignore_errors=True)
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

    def _speech(self, video: str, work: Path, info) -> tuple[list[TimedText], str, bool]:
        """(transcript, note for the manifest, whether it was read back from a finished run)."""
        if self.settings.speech == "none":
            return [], "disabled", False
        if not info.has_audio:
            logger.info("%s has no audio stream: visual-only index", video)
            return [], "no audio stream", False
        from longvid.io import iter_audio

        path = work / "speech.jsonl"
        done_marker = work / "speech.done"
        if done_marker.exists() and path.exists():
            items = [TimedText(**d) for line in path.read_text().splitlines() for d in json.loads(line)["items"]]
            return items, done_marker.read_text(), True
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
        note = f"{len(items)} segments" if items else "no speech found"
        with atomic_path(done_marker) as tmp:
            tmp.write_text(note)
        return items, note, False


# ---------------------------------------------------------------------- finished visual stage
_VISUAL_ARRAYS = ("times", "features", "probs", "kept", "cuts")


def save_visual(work: Path, track) -> None:
    """Keep a finished visual pass (arrays, OCR reads, keyframe names); its checkpoints go."""
    with atomic_path(work / "visual.npz", suffix=".npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **{n: getattr(track, n) for n in _VISUAL_ARRAYS})
    meta = {"reads": [[r.time_s, r.text] for r in track.reads], "keyframes": {str(k): v for k, v in track.keyframes.items()}}
    with atomic_path(work / "visual.json") as tmp:  # written last: the pair counts only when complete
        tmp.write_text(json.dumps(meta))
    shutil.rmtree(work / "visual", ignore_errors=True)


def load_visual(work: Path):
    """The finished visual pass kept in ``work``, or None."""
    if not ((work / "visual.json").exists() and (work / "visual.npz").exists()):
        return None
    from longvid.offline.ocr import OcrRead
    from longvid.offline.visual import VisualTrack

    meta = json.loads((work / "visual.json").read_text())
    with np.load(work / "visual.npz") as z:
        arrays = {n: z[n] for n in _VISUAL_ARRAYS}
    return VisualTrack(
        **arrays, reads=[OcrRead(float(t), txt) for t, txt in meta["reads"]],
        keyframes={int(k): v for k, v in meta["keyframes"].items()},
    )


def embed_query(indexer: Indexer, text: str) -> np.ndarray:
    return indexer.model("embedder").embed([text])[0]
