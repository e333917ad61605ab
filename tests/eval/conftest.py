"""Fixtures for the evaluation tests: a short haystack built once, reference engines, and tiny
benchmark files in each published layout."""

import json
import shutil

import numpy as np
import pytest

from longvid.eval.haystack import HaystackConfig, build_haystack
from longvid.io.sampling import SamplingConfig, sample_frames
from longvid.synth.clips import packaged_clips
from longvid.synth.needles import (  # the card and palette generated needles are drawn with
    CARD_BACKGROUND,
    COLOURS,
)
from longvid.types import Answer, Evidence, Moment


@pytest.fixture(scope="session")
def haystack_60s(tmp_path_factory):
    """60 s haystack (packaged clips + generated scenes, with audio) and its segment list."""
    path = tmp_path_factory.mktemp("haystack") / "haystack.mp4"
    segments = build_haystack(
        path, HaystackConfig(duration_s=60.0, size=(320, 180), fps=5.0, scene_seconds=(2.0, 4.0), seed=1)
    )
    return path, segments


# ----------------------------------------------------------------------------- reference engines
_CARD = np.array(CARD_BACKGROUND)


class PixelEngine:
    """Reference engine for the test: finds a needle card by its pixels and names the shape's colour.

    It perceives only what the video holds (frames sampled at 1 fps by longvid.io); it reads no
    text and knows nothing of the grid, so a found needle proves it was rendered where expected.
    """

    name = "pixel-reference"

    def ask(self, video, question):
        for batch in sample_frames(video, SamplingConfig(fps=1.0, resize="none")):
            for frame, t in zip(batch.frames, batch.timestamps_s):
                px = frame.reshape(-1, 3).astype(int)
                card = np.abs(px - _CARD).sum(1) < 40
                if card.mean() < 0.3:
                    continue
                ink = px[~card & (px.sum(1) > 60)]  # not card, not letterbox black
                mean = ink.mean(0)
                name = min(COLOURS, key=lambda c: np.abs(np.array(COLOURS[c]) - mean).sum())
                ev = Evidence(moment=Moment(float(t), float(t) + 1.0, video=str(video)))
                return Answer(
                    question=question, text=f"It is {name}.", evidence=(ev,), grounded=True, engine=self.name
                )
        return Answer(
            question=question, text="I did not see it.", evidence=(), grounded=False, engine=self.name
        )


class LetterEngine:
    """Answers every question with one fixed option, after checking it was given a real video."""

    name = "letter"

    def __init__(self, letter="B"):
        self.letter = letter
        self.seen = []

    def ask(self, video, question):
        with open(video, "rb") as f:
            assert f.read(12)[4:8] == b"ftyp"  # a real MP4 reached the engine
        self.seen.append((video, question))
        return Answer(
            question=question,
            text=f"Best option: ({self.letter})",
            evidence=(),
            grounded=False,
            engine=self.name,
        )


@pytest.fixture
def pixel_engine():
    """The class of the pixel-reading reference engine (construct it with no arguments)."""
    return PixelEngine


@pytest.fixture
def letter_engine():
    """The class of the fixed-letter reference engine: ``letter_engine("B")``."""
    return LetterEngine


# ----------------------------------------------------------------------------- benchmark files
def _clip():
    return next(c for c in packaged_clips() if c.name == "carphone_pristine.mp4")


def make_videomme(root):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "video_id": "001",
            "duration": "short",
            "domain": "Knowledge",
            "sub_category": "Humanity",
            "url": "u",
            "videoID": "vidA",
            "question_id": "001-1",
            "task_type": "Counting Problem",
            "question": "How many?",
            "options": ["A. 1", "B. 2", "C. 3", "D. 4"],
            "answer": "B",
        },
        {
            "video_id": "001",
            "duration": "short",
            "domain": "Knowledge",
            "sub_category": "Humanity",
            "url": "u",
            "videoID": "vidA",
            "question_id": "001-2",
            "task_type": "OCR Problems",
            "question": "What text?",
            "options": ["A. x", "B. y", "C. z", "D. w"],
            "answer": "C",
        },
        {
            "video_id": "002",
            "duration": "long",
            "domain": "Sports",
            "sub_category": "Football",
            "url": "u",
            "videoID": "vidMissing",
            "question_id": "002-1",
            "task_type": "Counting Problem",
            "question": "Who?",
            "options": ["A. a", "B. b", "C. c", "D. d"],
            "answer": "B",
        },
    ]
    (root / "videomme").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "videomme" / "test-00000-of-00001.parquet")
    (root / "data").mkdir()
    shutil.copy(_clip(), root / "data" / "vidA.mp4")
    (root / "subtitle").mkdir()
    (root / "subtitle" / "vidA.srt").write_text(
        "1\n00:00:00,000 --> 00:00:02,000\n<i>Hello there</i>\n\n2\n00:00:02,500 --> 00:00:04,000\nGeneral Kenobi\n"
    )


def make_mlvu(root):
    (root / "json").mkdir(parents=True)
    (root / "json" / "2_needle.json").write_text(
        json.dumps(
            [
                {
                    "video": "n1.mp4",
                    "duration": 400,
                    "question": "What appears?",
                    "candidates": ["cat", "dog", "car", "sun"],
                    "answer": "dog",
                    "question_type": "findNeedle",
                }
            ]
        )
    )
    (root / "json" / "4_count.json").write_text(
        json.dumps(
            [
                {
                    "video": "c1.mp4",
                    "duration": 500,
                    "question": "How many jumps?",
                    "candidates": ["1", "2", "3", "4"],
                    "answer": "1",
                    "question_type": "count",
                }
            ]
        )
    )
    (root / "json" / "9_summary.json").write_text(
        json.dumps(
            [{"video": "s.mp4", "question": "Summarise", "answer": "free text", "question_type": "summary"}]
        )
    )
    (root / "video" / "2_needle").mkdir(parents=True)
    (root / "video" / "4_count").mkdir(parents=True)
    shutil.copy(_clip(), root / "video" / "2_needle" / "n1.mp4")
    shutil.copy(_clip(), root / "video" / "4_count" / "c1.mp4")


def make_lvb(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "lvb_val.json").write_text(
        json.dumps(
            [
                {
                    "id": "q1",
                    "video_id": "v1",
                    "video_path": "v1.mp4",
                    "subtitle_path": "v1_en.json",
                    "question": "What?",
                    "candidates": ["w", "x", "y", "z", "q"],
                    "correct_choice": 1,
                    "question_category": "S2E",
                    "duration_group": 600,
                    "duration": 500.0,
                },
                {
                    "id": "q2",
                    "video_id": "v1",
                    "video_path": "v1.mp4",
                    "subtitle_path": "v1_en.json",
                    "question": "Who?",
                    "candidates": ["w", "x", "y"],
                    "correct_choice": 0,
                    "question_category": "T3O",
                    "duration_group": 15,
                    "duration": 12.0,
                },
            ]
        )
    )
    (root / "videos").mkdir()
    shutil.copy(_clip(), root / "videos" / "v1.mp4")
    (root / "subtitles").mkdir()
    (root / "subtitles" / "v1_en.json").write_text(json.dumps([{"start": 0, "end": 1, "line": "hi there"}]))


def make_egoschema(root):
    root.mkdir(parents=True, exist_ok=True)
    q = [
        {
            "q_uid": f"u{i}",
            "google_drive_id": "x",
            "question": f"Q{i}?",
            **{f"option {k}": f"opt{k}" for k in range(5)},
        }
        for i in range(3)
    ]
    (root / "questions.json").write_text(json.dumps(q))
    (root / "subset_answers.json").write_text(json.dumps({"u0": 1, "u2": 4}))  # u1 has no public answer
    (root / "videos").mkdir()
    for uid in ("u0", "u2"):
        shutil.copy(_clip(), root / "videos" / f"{uid}.mp4")


def make_vnbench(root):
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in range(4):  # one question in four option orders
        opts = ["red", "blue", "green", "pink"]
        opts = opts[t:] + opts[:t]
        rows.append(
            {
                "video": "vids/v1.mp4",
                "question": "What colour?",
                "options": opts,
                "gt": "blue",
                "type": "ret_insert1",
                "try": t,
                "question_id": f"ret_v1_{t}",
            }
        )
    rows.append(
        {
            "video": "vids/v1.mp4",
            "question": "Count?",
            "options": ["1", "2", "3", "4"],
            "gt": 1,
            "type": "cnt_level1",
            "try": 0,
            "question_id": "cnt_v1_0",
        }
    )
    (root / "VNBench_new.json").write_text(json.dumps(rows))
    (root / "vids").mkdir()
    shutil.copy(_clip(), root / "vids" / "v1.mp4")


MAKERS = {
    "videomme": make_videomme,
    "mlvu": make_mlvu,
    "longvideobench": make_lvb,
    "egoschema": make_egoschema,
    "vnbench": make_vnbench,
}




@pytest.fixture
def benchmark_files():
    """Benchmark name -> ``write(root)``: tiny files in that benchmark's published layout."""
    return MAKERS
