"""Presenting results: progress bars for the CLI, and text / JSON renderings of answers.

Design decisions:
- Library code reports progress through ``progress(stage, done, total)`` callbacks;
  ``TqdmProgress`` is the CLI's callback: one bar per stage, with rate and time left. Stages
  may run at once (speech beside the visual pass), so each bar keeps the line it was given
  (tqdm ``position``, in order of first report) and one lock orders the redraws: two bars
  never draw over each other.
- ``to_json`` gives every field of an ``Answer`` / ``Evidence`` (times in seconds and as labels)
  so scripts never parse the human text.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any, ClassVar

from longvid.types import Answer, Evidence, format_timestamp


class TqdmProgress:
    """A ``progress(stage, done, total)`` callback drawing one tqdm bar per stage."""

    _UNITS: ClassVar[dict[str, str]] = {"visual": "s", "speech": "s", "embed": "seg"}

    def __init__(self, *, disable: bool = False, prefix: str = "") -> None:
        self.bars: dict[str, Any] = {}
        self.disable = disable
        self.prefix = prefix
        self._lock = threading.Lock()
        self._positions: dict[str, int] = {}
        self._finished: set[str] = set()

    def __call__(self, stage: str, done: float, total: float) -> None:
        from tqdm import tqdm

        with self._lock:
            bar = self.bars.get(stage)
            if bar is None and stage in self._finished and done >= total:
                return  # a repeated final report must not open a second, finished bar
            if bar is None:
                self._finished.discard(stage)
                pos = self._positions.setdefault(stage, len(self._positions))
                bar = self.bars[stage] = tqdm(
                    total=round(total, 1), desc=f"{self.prefix}{stage:>7}", unit=self._UNITS.get(stage, "it"),
                    disable=self.disable, leave=True, dynamic_ncols=True, position=pos,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}<{remaining}]",
                )
            bar.n = max(bar.n, round(min(done, total), 1))
            bar.refresh()
            if done >= total:
                bar.close()
                del self.bars[stage]
                self._finished.add(stage)

    def close(self) -> None:
        with self._lock:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()


def evidence_dict(ev: Evidence) -> dict:
    d = asdict(ev)
    d["moment"]["label"] = ev.moment.label()
    return d


def to_json(obj: Answer | list[Evidence]) -> dict | list:
    if isinstance(obj, Answer):
        return {
            "question": obj.question,
            "answer": obj.text,
            "grounded": obj.grounded,
            "engine": obj.engine,
            "moments": [e.moment.label() for e in obj.evidence],
            "evidence": [evidence_dict(e) for e in obj.evidence],
            "timings_s": obj.timings_s,
        }
    return [evidence_dict(e) for e in obj]


def format_evidence(ev: Evidence, indent: str = "  ") -> str:
    lines = [f"{indent}{ev.moment.label()}"]
    pad = indent + "    "
    timed = [x for x in ev.extra.get("lines", []) if x.get("source") in ("speech", "subtitle")]
    if timed:
        for x in timed:
            lines.append(f"{pad}said [{format_timestamp(x['start_s'])}]: {x['text']}")
    elif ev.transcript:
        lines.append(f"{pad}said: {ev.transcript}")
    if ev.on_screen_text:
        lines.append(f"{pad}on screen: {ev.on_screen_text}")
    if ev.tags:
        lines.append(f"{pad}looks like: {', '.join(ev.tags)}")
    if ev.keyframe:
        lines.append(f"{pad}keyframe: {ev.keyframe}")
    return "\n".join(lines)


def format_answer(ans: Answer) -> str:
    head = f"Q: {ans.question}\nA: {ans.text}"
    if not ans.grounded:
        head += "\n   (not confirmed by the evidence)"
    if ans.evidence:
        head += "\nMoments:\n" + "\n".join(format_evidence(e) for e in ans.evidence)
    return head
