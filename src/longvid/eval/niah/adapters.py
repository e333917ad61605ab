"""How each kind of engine meets a needle: one small protocol, one adapter per engine kind.

Design decisions:
- ``NiahAdapter`` is what the runner needs: ``prepare`` (the expensive, once-per-run work),
  ``run_cell`` (one grid cell) and ``describe`` (settings, and what is reused, for results.json).
- ``VideoEngineAdapter`` serves any engine with ``ask(video, question) -> Answer`` (the offline
  default): each cell is a real video with the needles rendered in (text burned in, speech mixed
  into the sound, images in place of a frame, or inserted as LongVA does). Reused across cells:
  the 1 fps sampling of the haystack (decoded once into a small cache), synthesised speech (once
  per phrase), the engine object with its loaded models, and (``reuse=True``, the default) the
  engine's per-frame features, OCR reads and text embeddings of identical inputs: cell videos
  are lossless and needles overlaid in place, so haystack frames repeat byte for byte across
  cells (see ``memo``). The engine still indexes every cell video itself.
- ``FeatureEngineAdapter`` serves video-LLM engines that expose their vision side
  (``encode_frames``) and their language side on features (``generate_from_features`` and, for
  teacher-forced scoring, ``greedy_match_from_features``): the haystack is encoded ONCE for the
  largest N, each needle image once, and a cell is ``cat(h[:k], needle, h[k:N])``, as LongVA does.
  Vision-only models cannot hear, so spoken needles are refused there.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from longvid.errors import LongvidError
from longvid.eval.niah.grid import NiahGrid
from longvid.eval.niah.needles import NeedleSet
from longvid.eval.niah.render import CellMode, Placement, SampledHaystack, check_cell_mode, render_cell
from longvid.synth.needles import burn_text, image_frame

logger = logging.getLogger(__name__)

Scoring = Literal["generation", "teacher_forced"]


class UnsupportedNeedleError(LongvidError, ValueError):
    """This engine kind cannot perceive this kind of needle (e.g. speech for a vision-only model)."""


@dataclass(frozen=True)
class CellTask:
    frames: int
    depth: float
    needle_set: NeedleSet
    placements: tuple[Placement, ...]
    question: str  # the full question as asked (prompt, options, answer instruction)


@dataclass(frozen=True)
class CellOutcome:
    prediction: str = ""
    greedy_match: bool | None = None  # teacher-forced exact match, when scored that way
    details: dict = field(default_factory=dict)


@runtime_checkable
class NiahAdapter(Protocol):
    name: str
    scoring: Scoring

    def prepare(
        self, haystack: str | Path, grid: NiahGrid, needle_sets: list[NeedleSet], work_dir: Path
    ) -> None: ...

    def run_cell(self, task: CellTask) -> CellOutcome: ...

    def describe(self) -> dict: ...


# ----------------------------------------------------------------------------- ask() engines
class VideoEngineAdapter:
    """Any ``Engine`` (``ask(video, question) -> Answer``); needles rendered into real cell videos."""

    scoring: Scoring = "generation"
    # Engines with ask() have their own answer format (the offline one cites its evidence); a
    # "single word" instruction made the small LLM answer with a visual tag instead.
    instruction = ""

    def __init__(
        self,
        engine: Any,
        *,
        width: int = 640,
        keep_videos: bool = False,
        mode: CellMode = "overlay",
        reuse: bool = True,
    ) -> None:
        self.engine = engine
        self.name = getattr(engine, "name", type(engine).__name__)
        self.width = width
        self.keep_videos = keep_videos
        # overlay: needle in place of the haystack frame; insert: an extra frame (LongVA)
        self.mode = check_cell_mode(mode)
        self.reuse = reuse  # lossless cell videos + content memo of the engine's per-frame models
        self.memos: dict = {}
        self.haystack: SampledHaystack | None = None
        self.work_dir: Path | None = None

    def prepare(self, haystack, grid, needle_sets, work_dir) -> None:
        self.work_dir = Path(work_dir)
        self.haystack = SampledHaystack(
            haystack, self.work_dir, max_frames=grid.max_frames, fps=grid.fps, width=self.width
        ).prepare()
        if self.reuse:
            from longvid.eval.niah.memo import install_content_memo

            self.memos = install_content_memo(self.engine)

    def run_cell(self, task: CellTask) -> CellOutcome:
        assert self.haystack is not None and self.work_dir is not None, "call prepare() first"
        videos = self.work_dir / "cells"
        videos.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=videos) as tmp:
            suffix = ".mkv" if self.reuse else ".mp4"
            path = Path(tmp) / f"cell_{task.frames}_{task.depth:.3f}_{task.needle_set.id}{suffix}"
            where = render_cell(
                self.haystack,
                task.frames,
                list(task.placements),
                path,
                speech_cache=self.work_dir / "speech",
                mode=self.mode,
                lossless=self.reuse,
            )
            answer = self.engine.ask(str(path), task.question)
            if hasattr(self.engine, "close"):
                self.engine.close()  # drop the cell's open index; loaded models stay
            if self.keep_videos:
                path.replace(videos / path.name)
        moments = [[m.start_s, m.end_s] for m in getattr(answer, "moments", ())]
        details = {
            "needle_times_s": list(where.times_s),
            "cell_frames": where.frames,
            "moments": moments,
            "grounded": getattr(answer, "grounded", None),
            "cites_needle": any(m0 - 1.0 <= t <= m1 + 1.0 for t in where.times_s for m0, m1 in moments),
            "engine_timings_s": dict(getattr(answer, "timings_s", {}) or {}),
        }
        if self.memos:
            from longvid.eval.niah.memo import memo_stats

            details["memo"] = memo_stats(self.memos)  # cumulative over the run
        return CellOutcome(prediction=answer.text, details=details)

    def describe(self) -> dict:
        reused = [
            "haystack sampled once at the grid rate (cache video + audio)",
            "speech synthesised once per phrase",
            "engine object and its loaded models",
        ]
        if self.reuse:
            reused.append(
                "per-frame encoder features, OCR reads and text embeddings of identical inputs "
                "(lossless cell videos, needles overlaid in place)"
            )
        return {
            "adapter": "video",
            "engine": self.name,
            "width": self.width,
            "mode": self.mode,
            "reuse": self.reuse,
            "reused": reused,
        }


# ----------------------------------------------------------------------------- feature engines
@runtime_checkable
class FeatureEngine(Protocol):
    """The capability feature-level V-NIAH needs: an engine's vision and language sides apart."""

    name: str

    def encode_frames(self, frames: Any) -> Any:
        """``(T, H, W, 3)`` uint8 frames -> ``(T, tokens, dim)`` features."""
        ...

    def generate_from_features(
        self, features: Any, question: str, *, max_new_tokens: int | None = None
    ) -> str: ...


@runtime_checkable
class TeacherForcedFeatureEngine(FeatureEngine, Protocol):
    """A ``FeatureEngine`` that also scores a given answer (LongVA's teacher-forced exact match)."""

    def greedy_match_from_features(self, features: Any, question: str, answer: str) -> bool: ...


def feature_engine_for(engine: Any) -> FeatureEngine | None:
    """The engine's feature-level access, or None: the engine itself when it declares the
    capability, else the video-LLM wrapper when the engine's model gives per-frame tokens."""
    if isinstance(engine, FeatureEngine):
        return engine
    from longvid.eval.niah.llm_features import VideoLLMFeatures

    try:
        return VideoLLMFeatures(engine)
    except LongvidError:  # no frame-level encoder: only the video adapter serves it
        return None


class FeatureEngineAdapter:
    """A video-LLM engine used through its features: haystack encoded once, needles inserted."""

    def __init__(
        self, engine: Any, *, scoring: Scoring = "generation", max_new_tokens: int = 32, batch_size: int = 16
    ) -> None:
        needed = TeacherForcedFeatureEngine if scoring == "teacher_forced" else FeatureEngine
        if not isinstance(engine, needed):
            methods = "encode_frames, generate_from_features"
            if scoring == "teacher_forced":
                methods += ", greedy_match_from_features"
            raise LongvidError(
                f"engine {getattr(engine, 'name', engine)!r} is not a {needed.__name__} ({methods}): "
                "feature-level V-NIAH needs the engine's vision side and language side separately; "
                "use the video adapter (--adapter video)"
            )
        self.engine = engine
        self.name = getattr(engine, "name", type(engine).__name__)
        self.scoring = scoring
        self.instruction = "Answer the question using a single word or phrase."  # LongVA's postprompt
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.features = None
        self.needle_features: dict[str, Any] = {}
        self.haystack: SampledHaystack | None = None

    def prepare(self, haystack, grid, needle_sets, work_dir) -> None:
        import torch

        for ns in needle_sets:
            if any(n.kind == "speech" for n in ns.needles):
                raise UnsupportedNeedleError(
                    f"needle set {ns.id!r} is spoken; {self.name} sees frames only: "
                    "drop spoken needles for this engine"
                )
        self.haystack = SampledHaystack(
            haystack, Path(work_dir), max_frames=grid.max_frames, fps=grid.fps
        ).prepare()
        import numpy as np

        chunks, buf = [], []
        for frame in self.haystack.frames(grid.max_frames):  # encoded once, reused by every cell
            buf.append(frame)
            if len(buf) == self.batch_size:
                chunks.append(self.engine.encode_frames(np.stack(buf)))
                buf = []
        if buf:
            chunks.append(self.engine.encode_frames(np.stack(buf)))
        self.features = torch.cat(chunks)
        for ns in needle_sets:
            for n in ns.needles:
                if n.kind == "image" and n.image not in self.needle_features:
                    self.needle_features[n.image] = self.engine.encode_frames(
                        image_frame(n.image, self.haystack.size)[None]
                    )
        logger.info("encoded haystack once: %s", tuple(self.features.shape))

    def _needle_feature(self, p: Placement):
        if p.needle.kind == "image":
            return self.needle_features[p.needle.image]
        # text burned into the haystack frame at that point: one frame to encode per cell
        import numpy as np

        frame = self.haystack.frame_at(min(p.index, self.haystack.num_frames - 1))
        return self.engine.encode_frames(np.asarray(burn_text(frame, p.needle.text))[None])

    def cell_features(self, task: CellTask):
        import torch

        parts, start = [], 0
        for p in sorted(task.placements, key=lambda p: p.index):
            parts += [self.features[start : p.index], self._needle_feature(p)]
            start = p.index
        parts.append(self.features[start : task.frames])
        return torch.cat(parts)

    def run_cell(self, task: CellTask) -> CellOutcome:
        feats = self.cell_features(task)
        if self.scoring == "teacher_forced":
            ok = bool(self.engine.greedy_match_from_features(feats, task.question, task.needle_set.answer))
            return CellOutcome(prediction=task.needle_set.answer if ok else "", greedy_match=ok)
        return CellOutcome(
            prediction=self.engine.generate_from_features(
                feats, task.question, max_new_tokens=self.max_new_tokens
            )
        )

    def describe(self) -> dict:
        return {
            "adapter": "features",
            "engine": self.name,
            "scoring": self.scoring,
            "reused": ["haystack frames encoded once for the largest N", "each needle image encoded once"],
        }
