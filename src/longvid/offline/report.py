"""Presenting results: progress bars for the CLI, and text / JSON renderings of answers.

Design decisions:
- Library code reports progress through ``progress(stage, done, total)`` callbacks;
  ``TqdmProgress`` is the CLI's callback: one bar per stage, with rate and time left.
- ``to_json`` gives every field of an ``Answer`` / ``Evidence`` (times in seconds and as labels)
  so scripts never parse the human text.
"""

from __future__ import annotations

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

    def __call__(self, stage: str, done: float, total: float) -> None:
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(
                total=round(total, 1), desc=f"{self.prefix}{stage:>7}", unit=self._UNITS.get(stage, "it"),
                disable=self.disable, leave=True, dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}<{remaining}]",
            )
        bar.n = round(min(done, total), 1)
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
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
