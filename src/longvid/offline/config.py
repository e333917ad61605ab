"""Every default of the offline engine, in one place (frozen dataclasses, a comment per field).

Design decisions:
- Settings that change what an index contains (``IndexSettings``) are hashed into the index key:
  changing one makes a new index instead of misreading an old one. Query-time settings
  (``QueryConfig``) are not part of the key.
- Stage choices are registry names, so a third party's OCR or speech recogniser plugs in by name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from longvid.compress.temporal import TemporalConfig
from longvid.io.sampling import DEFAULT_FPS
from longvid.offline.llm import LLMConfig

# bump when the on-disk layout or meaning of an index changes (2: the hard-cut threshold became the
# ``hard_cut_diff`` setting, so the settings, and with them every index key, changed; 3: OCR reads
# by text region, one span per line)
INDEX_FORMAT_VERSION = 3


@dataclass(frozen=True)
class IndexSettings:
    fps: float = DEFAULT_FPS  # frames sampled per second of video: longvid.io's one default rate
    encoder: str = "efficientnet-lite0"  # a longvid.encoders name: visual features + ImageNet tags
    temporal: TemporalConfig = field(default_factory=lambda: TemporalConfig(max_frames=None))  # LongVU stage 1; no 400 cap: an index keeps every window's survivors
    scene_cut_similarity: float = 0.80  # consecutive-frame feature cosine below this starts a new scene
    min_scene_s: float = 4.0  # shorter scenes merge into the one before (camera motion is not a new scene)
    max_segment_s: float = 12.0  # a timeline segment never spans more: keeps cited moments tight
    tags_per_scene: int = 3  # ImageNet labels kept per scene (weak visual tags)
    tag_min_prob: float = 0.15  # a label must reach this mean probability over the scene to be a tag
    ocr: str = "rapidocr"  # a OCR_ENGINES name, or "none"
    ocr_max_side: int = 960  # frames are downscaled to this longest side before OCR (speed; text stays legible)
    ocr_min_confidence: float = 0.6  # recognised lines below this are dropped
    ocr_min_chars: int = 2  # lines with fewer letters/digits are dropped (stray one-glyph reads outrank real text)
    ocr_min_gap_s: float = 4.0  # at most one OCR read per this many seconds, except right after a hard cut
    ocr_same_thumb_diff: float = 2.0  # mean abs thumbnail difference (0-255) under which a kept frame is not re-read
    speech: str = "whisper-tiny.en"  # a SPEECH_ENGINES name, or "none"
    speech_chunk_s: float = 120.0  # audio is transcribed in chunks this long (bounded memory)
    subtitles: bool = True  # use embedded or sidecar subtitles when present
    embedder: str = "minilm-l6"  # a TEXT_EMBEDDERS name
    keyframe_side: int = 320  # longest side of the saved keyframe JPEGs
    hard_cut_diff: float = 12.0  # mean abs grey-thumbnail change (0-255) between consecutive frames that counts as a hard cut (new scene, extra OCR read)
    checkpoint_frames: int = 128  # visual progress is checkpointed every this many frames (multiple of 16)

    def key(self) -> str:
        """Short stable hash of these settings plus the index format version."""
        blob = json.dumps({"v": INDEX_FORMAT_VERSION, **asdict(self)}, sort_keys=True, default=str)
        return hashlib.blake2b(blob.encode(), digest_size=6).hexdigest()

    def as_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


@dataclass(frozen=True)
class QueryConfig:
    top_k: int = 6  # segments retrieved per question (the evidence the LLM sees)
    rrf_k: int = 60  # reciprocal-rank-fusion constant (the usual 60: ranks matter, raw scores do not)
    min_cosine: float = 0.05  # embedding hits below this cosine are ignored (unrelated)
    context_tokens: int = 1024  # evidence budget in LLM tokens; the prompt stays well under the model's 32k
    llm: LLMConfig = field(default_factory=LLMConfig)
    grounded_word_fraction: float = 0.75  # share of an answer's key words that must appear in the evidence
    tag_min_cosine: float = 0.5  # a question word matches an ImageNet tag at this text-embedding cosine ("bicycle" ~ "mountain bike" 0.61); measured in docs/offline.md
    tag_margin: float = 0.15  # ...and only tags within this of the best-matching tag in the video (fewer stray matches)
    answer_min_span_score: float = 0.3  # an extracted span scoring this (0-1.05) is the answer; below it the LLM drafts (longvid.offline.extract)

    def __post_init__(self) -> None:
        if isinstance(self.llm, str):  # QueryConfig(llm="qwen2.5-coder-1.5b"): a registered LLM by name
            object.__setattr__(self, "llm", LLMConfig(name=self.llm))


@dataclass(frozen=True)
class OfflineConfig:
    index: IndexSettings = field(default_factory=IndexSettings)
    query: QueryConfig = field(default_factory=QueryConfig)
