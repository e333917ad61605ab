"""What every family's model object shares: its loaded parts, the budget rule, embeddings, and
the compressor that decides how many visual tokens reach the LLM.

Design decisions:
- The loader (:mod:`longvid.models.loader`) hands a family the same :class:`LoadedParts`
  (config, LLM, tokenizer, connector, towers); a family's model is a :class:`VideoLLM` around
  them and adds only what differs: how frames become tokens (``video_tokens``), its default
  compressor, and the grid of per-frame tokens that enters the compressor.
- The visual budget is ``context_length - text tokens - reserve`` for every family
  (``config.context_length`` and ``config.reserve_tokens``).
- How many tokens reach the LLM is the compressor's answer (``token_count``), asked through
  :meth:`VideoLLM.llm_token_count`; nothing here recomputes pooling or frame counts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch

    from longvid.compress.base import Compressor, TokenCount
    from longvid.encoders.vision import VisionEncoder
    from longvid.types import VisualTokens

Progress = Callable[[str, float, float], None]  # progress(stage, done, total)


@dataclass(frozen=True)
class LoadedParts:
    """Everything the shared loader reads from a checkpoint, for the family to assemble."""

    config: Any  # the family's typed config
    llm: Any  # transformers causal LM
    tokenizer: Any
    connector: Any  # nn.Module: projectors, aggregators, newline embeddings
    encoders: list[VisionEncoder]  # in the order of CheckpointSpec.towers
    source: str  # the folder or hub id it came from


@dataclass
class VideoLLM(ABC):
    """A loaded video-LLM: a family's parts plus the behaviour all families share."""

    config: Any
    llm: Any
    tokenizer: Any
    connector: Any
    encoders: list[VisionEncoder]
    source: str

    family: ClassVar[str] = ""  # the registered family name
    # whether the tokens of frames encoded on their own (``frame_tokens``) are exactly what the LLM
    # sees for them inside a video: true when no stage looks across frames (LongVA); false for LongVU,
    # whose frame reduction decides over the whole sequence. Feature-level V-NIAH needs it.
    per_frame_tokens: ClassVar[bool] = False

    @classmethod
    def from_parts(cls, parts: LoadedParts) -> VideoLLM:
        return cls(**{f.name: getattr(parts, f.name) for f in fields(LoadedParts)})

    # ------------------------------------------------------------------ text side
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """LLM input embeddings of token ids (the space visual tokens are spliced into)."""
        emb = self.llm.get_input_embeddings()
        return emb(ids.to(emb.weight.device))

    def context_budget(self, num_text_tokens: int, context_length: int | None = None) -> int:
        """Visual tokens that fit: ``context - text tokens - reserve``."""
        ctx = context_length or self.config.context_length
        return ctx - num_text_tokens - self.config.reserve_tokens

    # ------------------------------------------------------------------ compression
    @property
    @abstractmethod
    def token_grid(self) -> tuple[int, int]:
        """The (h, w) grid of one frame's tokens as they enter the compressor."""

    @abstractmethod
    def default_compressor(self) -> Compressor:
        """The compression the family applies when none is given."""

    def compressor(self, compressor: Compressor | str | None = None) -> Compressor:
        """``compressor`` as an object: None is the family's default, a string a registered name."""
        from longvid.compress import create_compressor

        if compressor is None:
            return self.default_compressor()
        return create_compressor(compressor) if isinstance(compressor, str) else compressor

    def llm_token_count(self, num_frames: int, budget: int, compressor: Compressor | str | None = None) -> TokenCount:
        """Visual tokens that reach the LLM for ``num_frames`` sampled frames, as the compressor
        counts them (exact, or a guaranteed upper bound)."""
        return self.compressor(compressor).token_count(num_frames=num_frames, grid=self.token_grid, budget=budget)

    def memory_frames(self, num_frames: int, budget: int, compressor: Compressor | str | None = None) -> int:
        """The frame count the memory plan is checked against for ``num_frames`` sampled frames.

        By default every sampled frame is held until compression and the sequence is bounded by
        the context (LongVU); families whose sequence grows with the frames override this.
        """
        return num_frames

    @abstractmethod
    def video_tokens(self, video: str, *, question: str, query_ids: torch.Tensor, budget: int,
                     fps: float | None, num_frames: int | None, max_frames: int | None,
                     compressor: Compressor | str | None = None, progress: Progress | None = None) -> VisualTokens:
        """Sample ``video``, encode and compress it to at most ``budget`` tokens, provenance kept."""


def video_progress(progress: Progress | None):
    """Adapt a ``progress(stage, done, total)`` callback to the sampler's ``(done_s, total_s)``."""
    if progress is None:
        return None
    return lambda done, total: progress("visual", done, total)
