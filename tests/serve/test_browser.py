"""The web page in headless Chromium (Debian's, driven by Playwright): upload, index, ask, seek."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def page_video(tmp_path_factory) -> Path:
    """30 s: a welcome slide, then the vault-code slide from 15 s (not indexed by other tests)."""
    from longvid.offline.synth import Slide, write_video

    path = tmp_path_factory.mktemp("page") / "harbour-talk.mp4"
    slides = [Slide(0, 15, "Welcome aboard\nthe harbour tour", (20, 60, 40)),
              Slide(15, 30, "The vault code\nis 4711", (90, 20, 20))]
    return write_video(path, duration_s=30.0, slides=slides, fps=1.0, size=(480, 270), audio=False)


def not_blank(png: Path) -> tuple[float, int]:
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB"))
    colours = len(np.unique(img.reshape(-1, 3)[::7], axis=0))
    return float(img.std()), colours


@pytest.mark.slow
def test_upload_index_ask_and_seek(browser, real_server, page_video, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(real_server.url + "/")
    page.wait_for_function("document.getElementById('model').textContent.length > 0")
    page.set_input_files("#file", str(page_video))
    page.click("#upload")
    # the progress bar moves while it indexes, then the question box opens
    page.wait_for_function("document.body.dataset.state === 'running' || document.body.dataset.state === 'done'",
                           timeout=120_000)
    page.wait_for_selector("#question:not([disabled])", timeout=300_000)
    assert page.eval_on_selector("#progress", "p => p.value") == 1
    page.wait_for_selector("#timeline .seg", timeout=30_000)
    assert "kept" in page.inner_text("#timeline-note")

    page.fill("#question", "What is the vault code?")
    page.click("#ask")
    page.wait_for_function("document.body.dataset.state === 'answered'", timeout=300_000)
    assert "4711" in page.inner_text("#answer")
    chips = page.query_selector_all(".chip")
    assert chips, page.inner_text("#answer")
    start = float(chips[0].get_attribute("data-start"))
    assert page.query_selector(".moment img") is not None and "4711" in page.inner_text("#moments")

    # the player is ready; park it elsewhere, then the chip must bring it to the moment
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=30_000)
    elsewhere = 2.0 if start > 5 else start + 8.0
    page.evaluate(f"document.getElementById('player').currentTime = {elsewhere}")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {elsewhere}) < 0.3")
    chips[0].click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {start}) < 0.3",
                           timeout=10_000)
    page.wait_for_function("Array.from(document.querySelectorAll('.moment img')).every(i => i.complete && i.naturalWidth > 0)",
                           timeout=10_000)

    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    std, colours = not_blank(shot)
    assert std > 20 and colours > 100, (std, colours)
    assert not errors, errors
    page.close()
