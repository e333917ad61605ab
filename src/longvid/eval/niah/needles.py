"""Needles: what is hidden in the haystack, the question about it, and the expected answer.

Design decisions:
- The folder layout is LongVA's: ``DIR/dataset.json``, a list of ``{"path", "prompt", "answer"}``
  (``path`` relative to DIR: an out-of-place image). Extra keys add what the original lacks:
  ``"kind"`` ("image", "text" burned on screen, "speech" spoken into the audio), ``"text"``
  (the on-screen or spoken words), ``"options"`` (multiple choice, read as Video-XL does with
  "Best option:("), and an ``"id"``.
- An entry with ``"needles": [...]`` is a set hidden together: ``"mode": "multi"`` asks for every
  needle's answer (scored by recall), ``"mode": "multihop"`` asks one question whose answer
  combines them (scored by the set's ``"answer"``).
- ``write_generated_needles`` makes a folder of real needles (images drawn with PIL, text and
  speech phrases with random codes) for people with no needle set at hand; the words, palette
  and pictures come from ``longvid.synth.needles``, where the ``Needle`` record lives too.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from longvid.errors import LongvidError, VideoNotFoundError
from longvid.synth.needles import COLOURS, NEEDLE_KINDS, SHAPES, WORDS, Needle, NeedleKind, draw_shape


class NeedleSetError(LongvidError, ValueError):
    """A needle folder or its dataset.json is missing or malformed."""


@dataclass(frozen=True)
class NeedleSet:
    """One test item: one needle, or several hidden together in the same haystack."""

    id: str
    needles: tuple[Needle, ...]
    question: str
    answer: str  # expected answer to ``question``
    mode: Literal["single", "multi", "multihop"] = "single"
    options: tuple[str, ...] = ()  # multiple choice; ``answer`` is then the letter
    extra: dict = field(default_factory=dict)

    @property
    def answers(self) -> tuple[str, ...]:
        """What must be recalled: every needle's answer (multi) or the one answer."""
        return tuple(n.answer for n in self.needles) if self.mode == "multi" else (self.answer,)


def _needle(entry: dict, root: Path, where: str) -> Needle:
    kind = entry.get("kind") or ("image" if entry.get("path") else "text")
    if kind not in NEEDLE_KINDS:
        raise NeedleSetError(f"{where}: kind must be one of {NEEDLE_KINDS}, got {kind!r}")
    if "answer" not in entry:
        raise NeedleSetError(f"{where}: every needle needs an 'answer'")
    image = None
    if kind == "image":
        if not entry.get("path"):
            raise NeedleSetError(f"{where}: an image needle needs a 'path'")
        image = (root / entry["path"]).resolve()
        if not image.is_file():
            raise VideoNotFoundError(f"{where}: needle image {image} does not exist")
        image = str(image)
    elif not entry.get("text"):
        raise NeedleSetError(f"{where}: a {kind} needle needs its 'text' (what is shown or spoken)")
    return Needle(
        kind=kind,
        answer=str(entry["answer"]),
        image=image,
        text=entry.get("text"),
        prompt=str(entry.get("prompt", "")),
    )


def load_needles(folder: str | Path) -> list[NeedleSet]:
    """Read ``folder/dataset.json`` (LongVA layout, with the extensions described above)."""
    root = Path(folder)
    path = root / "dataset.json"
    if not path.is_file():
        raise NeedleSetError(
            f"no needle set at {path}: put a dataset.json there (a list of "
            '{"path": "needle.png", "prompt": "...", "answer": "..."}) or make one with '
            "longvid.eval.niah.needles.write_generated_needles"
        )
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NeedleSetError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(entries, list) or not entries:
        raise NeedleSetError(f"{path} must hold a non-empty JSON list")
    sets = []
    for i, e in enumerate(entries):
        where = f"{path} entry {i}"
        if "needles" in e:
            mode = e.get("mode", "multi")
            if mode not in ("multi", "multihop"):
                raise NeedleSetError(f"{where}: mode must be 'multi' or 'multihop', got {mode!r}")
            needles = tuple(_needle(n, root, f"{where} needle {j}") for j, n in enumerate(e["needles"]))
            if len(needles) < 2:
                raise NeedleSetError(f"{where}: a {mode} set needs at least two needles")
            if mode == "multihop" and "answer" not in e:
                raise NeedleSetError(f"{where}: a multihop set needs the combined 'answer'")
            question = e.get("prompt", "")
            if not question:
                raise NeedleSetError(f"{where}: a {mode} set needs a 'prompt'")
            answer = str(e.get("answer", "; ".join(n.answer for n in needles)))
        else:
            needles = (_needle(e, root, where),)
            mode, question, answer = "single", needles[0].prompt, needles[0].answer
            if not question:
                raise NeedleSetError(f"{where}: a needle needs a 'prompt' (the question)")
        options = tuple(str(o) for o in e.get("options", ()))
        if options and answer.strip().upper() not in "ABCDEFGH"[: len(options)]:
            raise NeedleSetError(f"{where}: with options, 'answer' must be the option letter, got {answer!r}")
        sets.append(
            NeedleSet(
                id=str(e.get("id", i)),
                needles=needles,
                question=question.strip(),
                answer=answer.strip(),
                mode=mode,
                options=options,
            )
        )
    return sets


# ----------------------------------------------------------------------------- generated needles
def write_generated_needles(
    folder: str | Path,
    *,
    kinds: tuple[NeedleKind, ...] = ("image", "text", "speech"),
    per_kind: int = 1,
    multi: bool = False,
    multihop: bool = False,
    choice: bool = False,
    seed: int = 0,
    image_size: tuple[int, int] = (640, 360),
) -> Path:
    """Write a needle folder with ``dataset.json``; returns the folder.

    Text needles read "The secret word is" / "<WORD>" (two lines; OCR keeps the spaces of sentence
    case); speech needles say "The password is
    <word>.";
    image needles are a coloured shape on a plain card ("what colour is the shape?"). The multi-hop set
    splits a four-digit code over two on-screen needles and asks for the whole code; the choice set
    asks an image needle as a four-option question answered by letter (Video-XL's needle test).
    """
    rng = random.Random(seed)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    words = rng.sample(WORDS, len(WORDS))
    entries: list[dict] = []
    for kind in kinds:
        for i in range(per_kind):
            nid = f"{kind}{i}"
            if kind == "image":
                shape, colour = rng.choice(SHAPES), rng.choice(sorted(COLOURS))
                draw_shape(root / f"{nid}.png", shape, COLOURS[colour], image_size)
                entries.append(
                    {
                        "id": nid,
                        "kind": "image",
                        "path": f"{nid}.png",
                        "answer": colour,
                        "prompt": f"A card with a {shape} appears in the video. What colour is the "
                        f"{shape}? Answer with one word.",
                    }
                )
            elif kind == "text":
                word = words.pop()
                entries.append(
                    {
                        "id": nid,
                        "kind": "text",
                        "text": f"The secret word is\n{word.upper()}",
                        "answer": word,
                        "prompt": "What is the secret word shown on screen?",
                    }
                )
            else:
                word = words.pop()
                entries.append(
                    {
                        "id": nid,
                        "kind": "speech",
                        "text": f"The password is {word}.",
                        "answer": word,
                        "prompt": "What password is spoken in the video?",
                    }
                )
    if multi:
        a, b = words.pop(), words.pop()
        entries.append(
            {
                "id": "multi0",
                "mode": "multi",
                "prompt": "Which two secret words are shown on screen?",
                "answer": f"{a}; {b}",
                "needles": [
                    {"kind": "text", "text": f"The secret word is\n{a.upper()}", "answer": a},
                    {"kind": "text", "text": f"The secret word is\n{b.upper()}", "answer": b},
                ],
            }
        )
    if multihop:
        code = f"{rng.randrange(1000, 10000)}"
        entries.append(
            {
                "id": "hop0",
                "mode": "multihop",
                "answer": code,
                "prompt": "The vault code is given in two parts. What is the whole vault code?",
                "needles": [
                    {"kind": "text", "text": f"Vault code, first half\n{code[:2]}", "answer": code[:2]},
                    {"kind": "text", "text": f"Vault code, second half\n{code[2:]}", "answer": code[2:]},
                ],
            }
        )
    if choice:  # Video-XL style: an image needle asked as multiple choice, read by letter
        shape, colour = rng.choice(SHAPES), rng.choice(sorted(COLOURS))
        draw_shape(root / "choice0.png", shape, COLOURS[colour], image_size)
        options = [colour, *rng.sample([c for c in sorted(COLOURS) if c != colour], 3)]
        rng.shuffle(options)
        entries.append(
            {
                "id": "choice0",
                "kind": "image",
                "path": "choice0.png",
                "prompt": f"A card with a {shape} appears in the video. What colour is the {shape}?",
                "options": options,
                "answer": "ABCD"[options.index(colour)],
            }
        )
    (root / "dataset.json").write_text(json.dumps(entries, indent=2))
    return root
