"""What every benchmark loader returns, and the pieces they share.

Design decisions:
- A benchmark is a registered factory (``BENCHMARKS``, entry-point group ``longvid.benchmarks``)
  whose object has ``load(root, *, subtitles, limit) -> list[BenchmarkItem]``, ``prompt(item)``
  and ``score(item, prediction) -> bool``. Each reads the files as the authors publish them, from
  a local folder: nothing is downloaded. A missing file raises ``BenchmarkFilesError`` naming the
  exact path to put it at and where it is published.
- Items keep the absolute video path even when the file is absent: the runner records a missing
  video as an error for that item (counted wrong), it never substitutes a frame.
- Multiple-choice answers are stored as the option letter; predictions are read with
  ``scoring.extract_choice_letter``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from longvid.registry import Registry
from longvid.errors import LongvidError
from longvid.eval.scoring import LETTERS, extract_choice_letter, format_options

BENCHMARKS: Registry = Registry("benchmark")
register_benchmark = BENCHMARKS.register
create_benchmark = BENCHMARKS.create
list_benchmarks = BENCHMARKS.list

MC_INSTRUCTION = "Answer with the option's letter from the given choices directly."


class BenchmarkFilesError(LongvidError, FileNotFoundError):
    """A benchmark's annotation files are not where they should be."""


@dataclass(frozen=True)
class BenchmarkItem:
    id: str
    video: str  # absolute path (may not exist: then the item is recorded as an error)
    question: str
    options: tuple[str, ...]
    answer: str  # option letter
    category: str  # the benchmark's own task / question type
    group: str = ""  # items scored together (VNBench: the four option orders of one question)
    subtitles: str | None = None  # subtitle text to put in the prompt, when asked for
    extra: dict = field(default_factory=dict)  # other published fields (duration group, ...)


class MultipleChoiceBenchmark:
    """Shared prompt and scoring for the multiple-choice benchmarks."""

    name = "base"
    instruction = MC_INSTRUCTION

    def prompt(self, item: BenchmarkItem) -> str:
        parts = []
        if item.subtitles:
            parts.append(f"This video's subtitles are listed below:\n{item.subtitles}")
        parts += [item.question, format_options(item.options), self.instruction]
        return "\n".join(parts)

    def score(self, item: BenchmarkItem, prediction: str) -> bool:
        letter = extract_choice_letter(prediction, num_options=len(item.options), options=item.options)
        return letter is not None and letter == item.answer

    def summary_keys(self) -> tuple[str, ...]:
        """Item fields (``category`` or keys of ``extra``) reported with per-value accuracy."""
        return ("category",)


def need_file(path: Path, benchmark: str, published: str) -> Path:
    if not path.is_file():
        raise BenchmarkFilesError(
            f"{benchmark}: {path} is missing. Put the published annotation file there ({published}); "
            "longvid does not download benchmarks."
        )
    return path


def read_json_or_jsonl(path: Path):
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def letter_of(index: int, n: int, where: str) -> str:
    if not 0 <= index < n:
        raise LongvidError(f"{where}: answer index {index} is outside the {n} options")
    return LETTERS[index]


def strip_letter(option: str) -> str:
    """ "A. red" -> "red" (options published with their letter in front)."""
    return re.sub(r"^\s*[A-Z]\s*[\.\):]\s*", "", str(option)).strip()


def read_srt(path: Path) -> str:
    """Subtitle text of an .srt file, one cue per line, markup removed."""
    lines = []
    for block in re.split(r"\n\s*\n", path.read_text(errors="replace")):
        rows = [r for r in block.strip().splitlines() if r.strip()]
        rows = [r for r in rows if not r.strip().isdigit() and "-->" not in r]
        text = re.sub(r"<[^>]+>|\{[^}]+\}", "", " ".join(rows)).strip()
        if text:
            lines.append(text)
    return "\n".join(lines)
