"""Pieces of the offline engine on their own: hashing, OCR de-duplication, scenes, grounding."""

from __future__ import annotations

import numpy as np

from longvid.offline.answer import is_grounded, key_terms, relevance
from longvid.offline.config import IndexSettings
from longvid.offline.hashing import content_hash
from longvid.offline.ocr import OcrRead
from longvid.offline.speech import group_spans
from longvid.offline.timeline import ocr_track, scene_bounds


def test_content_hash_is_by_content_not_name(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    a.write_bytes(data)
    b.write_bytes(data)
    assert content_hash(a) == content_hash(b)
    changed = bytearray(data)
    changed[-1] ^= 1  # the last byte is always sampled
    b.write_bytes(bytes(changed))
    assert content_hash(a) != content_hash(b)
    b.write_bytes(data + b"x")  # size counts
    assert content_hash(a) != content_hash(b)


def test_settings_key_changes_with_settings():
    assert IndexSettings().key() == IndexSettings().key()
    assert IndexSettings().key() != IndexSettings(max_segment_s=5.0).key()


def test_ocr_reads_are_deduplicated_over_time():
    reads = [OcrRead(t, text) for t, text in
             [(0.0, "Chapter 1"), (4.0, None), (8.0, "Chapter l"), (12.0, "Budget 2025"), (16.0, ""), (20.0, "Budget 2025")]]
    items = ocr_track(reads, end_s=24.0)
    assert [(i.start_s, i.end_s, i.text) for i in items] == [
        (0.0, 12.0, "Chapter 1"), (12.0, 16.0, "Budget 2025"), (20.0, 24.0, "Budget 2025")
    ]


def test_scene_bounds_cut_on_feature_change_and_respect_min_length():
    f = np.zeros((10, 4), np.float32)
    f[:5, 0] = 1
    f[5:, 1] = 1
    f[7, 2] = 5  # one odd frame: too short to be a scene of its own with min_frames=3
    cuts = np.zeros(10, bool)
    assert scene_bounds(f, cuts, 0.8, min_frames=1) == [(0, 5), (5, 7), (7, 8), (8, 10)]
    assert scene_bounds(f, cuts, 0.8, min_frames=3) == [(0, 5), (5, 10)]
    cuts[3] = True  # a hard cut in the thumbnails splits even identical features
    assert scene_bounds(f, cuts, 0.8, min_frames=1)[:2] == [(0, 3), (3, 5)]


def test_speech_groups_merge_near_spans_only():
    assert group_spans([(0.0, 2.0), (2.5, 4.0), (10.0, 12.0)]) == [(0.0, 4.0), (10.0, 12.0)]
    long = [(float(i), i + 0.9) for i in range(40)]
    assert all(e - s <= 28.0 for s, e in group_spans(long))


def test_groundedness_rejects_inventions():
    ev = '[0:10-0:20] said: "The vault code is 5821." | on screen: "Results"'
    assert is_grounded("The vault code is 5821.", ev, 0.6)
    assert not is_grounded("The vault code is 1234.", ev, 0.6)  # a number not in the evidence
    assert not is_grounded("The vault code is a code of ethics for bankers.", ev, 0.6)
    assert is_grounded("[0:10-0:20] The code is 5821", ev, 0.6)  # times are not key words
    assert key_terms("At [12:31-12:48] it is 42") == ({"42"}, set())


def test_relevance_needs_the_questions_key_words():
    assert relevance("What flew over the old castle?", "The red balloon flew over the old castle.") == 1.0
    assert relevance("What is the capital of France?", "The conference will be held in Lisbon.") == 0.0
    assert relevance("Where will the conference be held?", "We will come back to this point later") == 0.0


def test_ocr_drops_stray_glyphs_but_keeps_short_codes():
    """A lone "O" read off a texture must not become on-screen text that outranks real slides."""
    import numpy as np

    from longvid.offline.config import IndexSettings
    from longvid.offline.ocr import OCR_ENGINES, alnum_count

    assert alnum_count("O") == 1 and alnum_count(" | ") == 0 and alnum_count("B-14") == 3
    s = IndexSettings()
    reader = OCR_ENGINES.create("rapidocr", min_confidence=s.ocr_min_confidence, max_side=s.ocr_max_side,
                                min_chars=s.ocr_min_chars)
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (640, 240), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=48)
    draw.text((30, 20), "Room B14", fill=(0, 0, 0), font=font)
    draw.text((450, 110), "X", fill=(0, 0, 0), font=font)  # read as "X" when single glyphs are allowed
    frame = np.asarray(img)
    texts = [t for t, _ in reader.read(frame)]
    assert any("B14" in t for t in texts), texts
    assert "X" not in texts
    permissive = OCR_ENGINES.create("rapidocr", min_confidence=s.ocr_min_confidence, max_side=s.ocr_max_side,
                                    min_chars=1)
    assert "X" in [t for t, _ in permissive.read(frame)]


def test_hits_on_one_slide_become_one_moment_spanning_it():
    """Three segments showing the same slide, two of them hits: one Evidence from the slide's first
    second to its last, with only the hits' words; a different slide stays separate."""
    import numpy as np

    from longvid.offline.retrieval import screen_run, to_evidence
    from longvid.offline.store import Segment

    slide = "Results | accuracy rose to 91 percent"
    segs = [
        Segment(150.0, 160.0, on_screen="Agenda"),
        Segment(160.0, 170.0, transcript="our results improved", on_screen=slide,
                lines=({"start_s": 162.0, "end_s": 165.0, "text": "our results improved", "source": "speech"},)),
        Segment(170.0, 180.0, transcript="unrelated chatter", on_screen=slide),
        Segment(180.0, 190.0, on_screen=slide),
        Segment(195.0, 200.0, on_screen=slide),  # a gap: the slide came back later, another moment
    ]
    assert screen_run(segs, 2) == [1, 2, 3]
    assert screen_run(segs, 0) == [0]
    assert screen_run(segs, 4) == [4]

    class FakeIndex:
        def keyframe_path(self, seg):
            return None

    ev = to_evidence(FakeIndex(), segs[3], 1.0, 0.5, "v.mp4", run=[segs[1], segs[2], segs[3]],
                     hits=[segs[1], segs[3]])
    assert (ev.moment.start_s, ev.moment.end_s) == (160.0, 190.0)
    assert ev.transcript == "our results improved"
    assert ev.on_screen_text == slide
    assert [line["text"] for line in ev.extra["lines"]] == ["our results improved"]
    assert np.isclose(ev.moment.score, 1.0)


def test_synthetic_media_is_off_the_core_import_path():
    import subprocess
    import sys

    code = (
        "import sys, longvid.io, longvid.compress, longvid.encoders, longvid.offline.engine, longvid.engines\n"
        "print(sorted(m for m in sys.modules if m.startswith('longvid.synth')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
