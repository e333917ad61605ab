"""Needles: what is hidden in a haystack, and the pictures that show it.

Design decisions:
- One record, ``Needle``, for every needle test: its kind ("image": a picture shown as a frame,
  "text": words burned in on screen, "speech": words spoken into the audio), what is shown or
  said, the question about it and its answer. Where it goes is the caller's: a frame index in a
  V-NIAH cell (``longvid.eval.niah``), a time in a talk video (``longvid.synth.talk.TimedNeedle``).
- Generated needles use common, distinct words and a small named palette, so that OCR and a
  small speech recogniser read them back without doubt and a test can check a colour by name.
- Text is drawn large, white on a near-black banner, centred: how a caption or title card looks,
  and legible to OCR at 1 fps sampling sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

NeedleKind = Literal["image", "text", "speech"]
NEEDLE_KINDS: tuple[NeedleKind, ...] = ("image", "text", "speech")
_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"  # Pillow's own font when absent


@dataclass(frozen=True)
class Needle:
    kind: NeedleKind
    answer: str  # this needle's own answer (what recalling it means)
    image: str | None = None  # absolute path, image needles
    text: str | None = None  # words shown on screen or spoken
    prompt: str = ""  # question about this needle alone


# ----------------------------------------------------------------------------- generated content
# Common, distinct words: a speech recogniser hears them and OCR reads them without a dictionary
# doubt ("quartz" came back as "closed" from Whisper tiny).
WORDS = (
    "garden", "window", "pencil", "rocket", "button", "candle", "basket", "ladder", "silver",
    "tiger", "river", "planet", "violin", "castle", "dragon", "forest", "orange", "pillow",
)
COLOURS = {  # the palette of generated image needles: name -> RGB
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (240, 210, 30),
    "purple": (140, 50, 180),
    "orange": (250, 140, 20),
}
SHAPES = ("circle", "square", "triangle")
CARD_BACKGROUND = (245, 245, 240)  # off-white card behind a generated image needle's shape


def draw_shape(path: str | Path, shape: str, colour: tuple[int, int, int], size: tuple[int, int]) -> None:
    """Save a card: one filled ``shape`` (``SHAPES``) of ``colour`` on an off-white background."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size, CARD_BACKGROUND)
    d = ImageDraw.Draw(img)
    r = min(w, h) // 3
    cx, cy = w // 2, h // 2
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    img.save(path)


# ----------------------------------------------------------------------------- needle pixels
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(_FONT, size)
    except OSError:
        return ImageFont.load_default(size=size)


def burn_text(frame: np.ndarray, text: str) -> np.ndarray:
    """The frame with ``text`` (lines split at "\\n") on a dark caption banner across its middle.

    Large white sans-serif on near-black, each line centred: what a title card or caption looks
    like, and legible to OCR at 1 fps sampling sizes.
    """
    from PIL import Image, ImageDraw

    img = Image.fromarray(frame).convert("RGB")
    w, h = img.size
    lines = text.split("\n")
    size = max(12, h // 12)
    draw = ImageDraw.Draw(img)
    font = _font(size)
    while size > 10 and max(draw.textlength(t, font=font) for t in lines) > 0.9 * w:  # fit the width
        size -= 2
        font = _font(size)
    gap = int(size * 0.35)
    block = len(lines) * size + (len(lines) - 1) * gap
    widest = max(draw.textlength(t, font=font) for t in lines)
    y = (h - block) / 2
    draw.rectangle(
        [
            (w - widest) / 2 - size * 0.5,
            y - size * 0.4,
            (w + widest) / 2 + size * 0.5,
            y + block + size * 0.5,
        ],
        fill=(15, 15, 15),
    )
    for t in lines:
        draw.text(((w - draw.textlength(t, font=font)) / 2, y), t, font=font, fill=(255, 255, 255))
        y += size + gap
    return np.asarray(img)


def image_frame(path: str, size: tuple[int, int]) -> np.ndarray:
    """A needle image letterboxed onto a black frame of ``size`` (w, h)."""
    from PIL import Image, ImageOps

    img = ImageOps.contain(Image.open(path).convert("RGB"), size, Image.BILINEAR)  # fit, up or down
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(img, ((size[0] - img.width) // 2, (size[1] - img.height) // 2))
    return np.asarray(canvas)
