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
- The speech stage runs beside the visual pass (``concurrency``: "thread" by default, or
  "process", or "off" for one after the other); the two share no state but the stage folder,
  each keeps its own checkpoints, and a failure or Ctrl-C in either stops the other at its
  next step with everything finished kept (``.stages/``), so the next run resumes both. Threads
  are split so the stages never ask for more than the cores: ctranslate2 gets one, torch the
  rest until speech is done, then all again. A concurrent index holds exactly what a
  sequential one holds.
- Progress: ``progress(stage, done, total)`` after each step of each stage (stage names:
  "visual", "speech", "embed"); the CLI draws one bar per stage from it. With concurrent stages
  the callback is called from two threads, but never by both at once and never backwards
  within a stage.
- Timings (manifest ``timings_s``): wall and CPU seconds per stage. A speech thread's CPU is
  its own thread's CPU time (ctranslate2 and the VAD run on it), the visual pass gets the rest
  of the process's CPU over its span; a speech process reports its own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from longvid.io.subtitles import sidecar_files
from longvid.offline.cache import atomic_path, cache_root
from longvid.offline.config import INDEX_FORMAT_VERSION, IndexSettings
from longvid.offline.hashing import content_hash
from longvid.offline.speech import SpeechStageError, StageCancelled, finished_speech, run_speech
from longvid.offline.store import VideoIndex, index_folder, open_index, read_manifest, write_index
from longvid.types import TimedText

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str, float, float], None]
Concurrency = Literal["off", "thread", "process"]
# speech beside the visual pass on a thread: on 2 cores it beat a child process (bench/ask.py;
# docs/offline.md), since the process pays a fresh interpreter and its own model loads
DEFAULT_CONCURRENCY: Concurrency = "thread"


class Indexer:
    def __init__(
        self,
        settings: IndexSettings | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        progress: ProgressFn | None = None,
        models: dict[str, object] | None = None,
        concurrency: Concurrency = DEFAULT_CONCURRENCY,
    ) -> None:
        """``models``: a dict of already created stage models to share (e.g. another indexer's
        ``models``); only used where this indexer's settings name the same parts.
        ``concurrency``: how speech runs beside the visual pass ("thread", "process") or after it
        ("off"); it changes how fast an index is built, never what it holds."""
        if concurrency not in ("off", "thread", "process"):
            raise ValueError(f"concurrency must be 'off', 'thread' or 'process', got {concurrency!r}")
        self.concurrency = concurrency
        self._progress_lock = threading.Lock()
        self._progress_done: dict[str, float] = {}
        self._speech_tids: set[int] = set()
        self.settings = settings or IndexSettings()
        self.cache = cache_root(cache_dir)
        self.progress = progress
        self.models: dict[str, object] = models if models is not None else {}

    # ------------------------------------------------------------------ models, created once
    def model(self, kind: str, *, threads: int | None = None):
        """The stage model ``kind``, created on first need; ``threads`` (speech only): the CPU
        threads it may use, fixed when it is created."""
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
                before = _thread_ids()
                self.models[kind] = None if s.speech == "none" else _create_speech(s.speech, threads, self.cache)
                self._speech_tids = _thread_ids() - before  # its worker threads: their CPU is speech's
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

        track, speech, speech_note = self._stages(str(video), work, info, timings, reused)

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
            "concurrency": timings.pop("concurrency"),
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
        # stages may report from two threads: one call at a time, and never backwards per stage
        if not self.progress:
            return
        with self._progress_lock:
            done = max(done, self._progress_done.get(stage, 0.0))
            self._progress_done[stage] = done
            self.progress(stage, done, total)

    # ------------------------------------------------------------------ visual + speech stages
    def _stages(self, video: str, work: Path, info, timings: dict, reused: list[str]):
        """Run (or read back) the visual and speech stages, side by side when both are needed."""
        self._progress_done = {}
        track = load_visual(work)
        if track is not None:
            logger.info("%s: visual pass read back from %s (frames not decoded again)", video, work)
            reused.append("visual")
        speech_needed = self.settings.speech != "none" and info.has_audio
        done_speech = finished_speech(work) if speech_needed else None
        if done_speech is not None:
            logger.info("%s: transcript read back from %s", video, work)
            reused.append("speech")
        mode = self.concurrency if (track is None and speech_needed and done_speech is None) else "off"
        timings["concurrency"] = mode
        w0, c0 = time.perf_counter(), time.process_time()
        if mode == "off":
            if track is None:
                track = self._timed("visual", timings, lambda: self._visual(video, work, info))
                save_visual(work, track)
            else:
                timings.update(visual_s=0.0, visual_cpu_s=0.0)
            if done_speech is None:
                speech, note = self._timed("speech", timings, lambda: self._speech(video, work, info))
            else:
                (speech, note), timings["speech_s"], timings["speech_cpu_s"] = done_speech, 0.0, 0.0
        else:
            track, speech, note = self._concurrent(video, work, info, timings, mode)
        timings["stages_s"] = time.perf_counter() - w0
        timings["stages_cpu_s"] = time.process_time() - c0 + timings.get("speech_child_cpu_s", 0.0)
        return track, speech, note

    @staticmethod
    def _timed(stage: str, timings: dict, fn):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        timings[f"{stage}_s"] = time.perf_counter() - w0
        timings[f"{stage}_cpu_s"] = time.process_time() - c0
        return out

    def _concurrent(self, video: str, work: Path, info, timings: dict, mode: str):
        """The visual pass on this thread, speech beside it on a thread or in a child process.

        Threads: torch gets one core fewer while speech runs (and its threads back as soon as
        speech is done); speech runs ctranslate2 on one thread. A failure of either stage sets
        ``stop``; the other stops at its next step, keeping its checkpoints, and the first error
        is raised. Ctrl-C lands in this thread (the visual pass) and stops speech the same way.
        """
        import torch

        stop = threading.Event()
        out: dict = {}
        torch_threads = torch.get_num_threads()
        speech_threads = 1 if torch_threads <= 2 else max(1, torch_threads // 3)
        worker = (self._speech_thread if mode == "thread" else self._speech_process)(
            video, work, info, stop, out, speech_threads)
        w0, c0 = time.perf_counter(), time.process_time()
        torch.set_num_threads(max(1, torch_threads - speech_threads))
        worker.start()

        def visual_step(done: float, total: float) -> None:
            if stop.is_set():
                raise StageCancelled("visual stopped: the speech stage failed")
            if not worker.is_alive() and torch.get_num_threads() != torch_threads:
                torch.set_num_threads(torch_threads)  # speech is done: the visual pass gets every core
            self._report("visual", done, total)

        try:
            track = self._visual(video, work, info, progress=visual_step)
            save_visual(work, track)
        except BaseException as exc:
            stop.set()
            worker.join(timeout=_STOP_WAIT_S)
            if isinstance(exc, StageCancelled) and "error" in out:
                raise out["error"] from None
            raise
        finally:
            torch.set_num_threads(torch_threads)
        timings["visual_s"] = time.perf_counter() - w0
        worker.join()
        # measured once both stages are done: speech may outlast the visual pass, and its CPU
        # (subtracted below in thread mode) covers its whole run
        visual_cpu = time.process_time() - c0
        if "error" in out:
            raise out["error"]
        speech, note = out["speech"]
        timings["speech_s"] = out["wall_s"]
        timings["speech_cpu_s"] = out["cpu_s"]
        if mode == "thread":
            # process CPU covers both stages; speech's share is the CPU of its thread and of
            # the worker threads its recogniser started (ctranslate2's; the VAD runs inline)
            visual_cpu = max(0.0, visual_cpu - out["cpu_s"])
        else:
            timings["speech_child_cpu_s"] = out["cpu_s"]
        timings["visual_cpu_s"] = visual_cpu
        return track, speech, note

    def _speech_thread(self, video, work, info, stop, out, threads) -> threading.Thread:
        recogniser = self.model("speech", threads=threads)

        def body() -> None:
            tids = self._speech_tids | {threading.get_native_id()}
            w0, c0 = time.perf_counter(), _threads_cpu(tids)
            try:
                out["speech"] = self._speech(video, work, info, stop=stop, recogniser=recogniser)
            except BaseException as exc:  # handed to the visual thread, which raises it  # noqa: BLE001
                out["error"] = exc
                stop.set()
            finally:
                out["wall_s"], out["cpu_s"] = time.perf_counter() - w0, _threads_cpu(tids) - c0

        return threading.Thread(target=body, name="longvid-speech", daemon=True)

    def _speech_process(self, video, work, info, stop, out, threads) -> threading.Thread:
        """A thread that runs the speech stage in a fresh ("spawn") child process and relays its
        progress; the child loads its own recogniser and writes the same checkpoints."""
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # never fork a process holding torch / OpenMP threads
        queue = ctx.Queue()
        proc = ctx.Process(target=_speech_child, name="longvid-speech",
                           args=(video, str(work), self.settings, info.duration_s, threads, queue, str(self.cache)),
                           daemon=True)

        def body() -> None:
            import queue as queue_mod

            w0 = time.perf_counter()
            proc.start()
            try:
                while True:
                    if stop.is_set() and proc.is_alive():
                        proc.terminate()  # checkpoints are per chunk and fsynced: nothing done is lost
                        out["error"] = StageCancelled("speech stopped: the visual stage failed")
                        break
                    try:
                        msg = queue.get(timeout=0.2)
                    except queue_mod.Empty:
                        if not proc.is_alive() and proc.exitcode is not None:
                            out["error"] = SpeechStageError(
                                f"the speech process died (exit code {proc.exitcode}); index again to resume")
                            stop.set()
                            break
                        continue
                    if msg[0] == "progress":
                        self._report("speech", msg[1], msg[2])
                    elif msg[0] == "done":
                        out["speech"] = ([TimedText(**d) for d in msg[1]], msg[2])
                        out["cpu_s"] = msg[3]
                        break
                    else:
                        out["error"] = SpeechStageError(f"the speech stage failed: {msg[1]}; index again to resume")
                        stop.set()
                        break
            finally:
                proc.join(timeout=_STOP_WAIT_S)
                out["wall_s"] = time.perf_counter() - w0
                out.setdefault("cpu_s", 0.0)

        return threading.Thread(target=body, name="longvid-speech-relay", daemon=True)

    def _visual(self, video: str, work: Path, info, progress=None):
        from longvid.offline.visual import run_visual

        return run_visual(
            video, work, self.settings, encoder=self.model("encoder"), ocr=self.model("ocr"), info=info,
            progress=progress or (lambda d, t: self._report("visual", d, t)),
        )

    def _speech(self, video: str, work: Path, info, *, stop=None, recogniser=None) -> tuple[list[TimedText], str]:
        """(transcript, note for the manifest) of a video the speech stage must run on."""
        if self.settings.speech == "none":
            return [], "disabled"
        if not info.has_audio:
            logger.info("%s has no audio stream: visual-only index", video)
            return [], "no audio stream"
        return run_speech(
            video, work, recogniser=recogniser or self.model("speech"), chunk_s=self.settings.speech_chunk_s,
            total_s=info.duration_s, progress=lambda d, t: self._report("speech", d, t), stop=stop,
        )


_STOP_WAIT_S = 30.0  # how long a failing run waits for the other stage to stop at a checkpoint


def _speech_child(video: str, work: str, settings: IndexSettings, total_s: float, threads: int, queue,
                  cache: str | None = None) -> None:
    """Body of the speech process: its own recogniser, the same checkpoints, progress by queue."""
    import resource

    try:
        recogniser = _create_speech(settings.speech, threads, cache)
        items, note = run_speech(
            video, Path(work), recogniser=recogniser, chunk_s=settings.speech_chunk_s, total_s=total_s,
            progress=lambda d, t: queue.put(("progress", d, t)),
        )
        ru = resource.getrusage(resource.RUSAGE_SELF)
        queue.put(("done", [_timed_text_dict(x) for x in items], note,
                   ru.ru_utime + ru.ru_stime))
    except BaseException as exc:  # reported to the parent, which raises it as an SpeechStageError  # noqa: BLE001
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _thread_ids() -> set[int]:
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:  # not Linux: speech CPU is then its own thread's only
        return set()


def _threads_cpu(tids: set[int]) -> float:
    """CPU seconds (user + system) the threads ``tids`` of this process have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for tid in tids:
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            if tid == threading.get_native_id():
                total += time.thread_time()
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _timed_text_dict(x: TimedText) -> dict:
    return {"start_s": x.start_s, "end_s": x.end_s, "text": x.text, "source": x.source, "confidence": x.confidence}


def _create_speech(name: str, threads: int | None, cache: str | os.PathLike | None = None):
    """A speech engine; ``threads`` is passed as ``cpu_threads``, ``cache`` as ``cache_dir``
    (where a packaged model is assembled), to engines that take them."""
    import inspect

    from longvid.offline.speech import SPEECH_ENGINES

    factory = SPEECH_ENGINES.get(name)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs: dict = {}
    if threads and "cpu_threads" in params:
        kwargs["cpu_threads"] = threads
    if cache is not None and "cache_dir" in params:
        kwargs["cache_dir"] = cache
    return factory(**kwargs)


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
