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
    from longvid.synth.talk import Slide, write_video

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


def upload_and_wait(page, video: Path) -> None:
    page.set_input_files("#file", str(video))
    page.click("#upload")
    # the progress bar follows the job, then the question box opens
    page.wait_for_function("['queued', 'running', 'done'].includes(document.body.dataset.state)", timeout=120_000)
    page.wait_for_function("['done', 'failed'].includes(document.body.dataset.state)", timeout=300_000)
    assert page.evaluate("document.body.dataset.state") == "done", page.inner_text("#error")
    page.wait_for_selector("#question:not([disabled])", timeout=10_000)
    assert page.eval_on_selector("#progress", "p => p.value") == 1


def ask_and_click_first_moment(page, question: str) -> float:
    """Ask, wait for the streamed answer, click the first moment chip; the moment's start."""
    page.fill("#question", question)
    page.click("#ask")
    page.wait_for_function("document.body.dataset.state === 'answered'", timeout=300_000)
    chips = page.query_selector_all(".chip")
    assert chips, page.inner_text("#answer")
    start = float(chips[0].get_attribute("data-start"))
    # the player has the video; park it elsewhere, then the chip must bring it to the moment
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=30_000)
    duration = page.evaluate("document.getElementById('player').duration")
    elsewhere = 0.0 if start >= 1.0 else min(duration - 0.1, start + 8.0)
    page.evaluate(f"document.getElementById('player').currentTime = {elsewhere}")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {elsewhere}) < 0.3")
    chips[0].click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {start}) < 0.3",
                           timeout=10_000)
    return start


@pytest.mark.slow
def test_upload_index_ask_and_seek(browser, real_server, page_video, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(real_server.url + "/")
    page.wait_for_function("document.getElementById('model').textContent.length > 0")
    upload_and_wait(page, page_video)
    page.wait_for_selector("#timeline .seg", timeout=30_000)
    assert "kept" in page.inner_text("#timeline-note")

    start = ask_and_click_first_moment(page, "What is the vault code?")
    assert "4711" in page.inner_text("#answer")
    assert start > 0 and "4711" in page.inner_text("#moments")
    page.wait_for_function("Array.from(document.querySelectorAll('.moment img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)", timeout=10_000)

    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    std, colours = not_blank(shot)
    assert std > 20 and colours > 100, (std, colours)
    assert not errors, errors
    page.close()


def test_the_page_sends_the_api_key(browser, fake_server, clip, api_key, fake_answer, tmp_path):
    page = browser.new_page()
    page.goto(fake_server.url + "/")
    page.wait_for_function("document.getElementById('error').textContent.includes('missing API key')")
    page.fill("#apikey", api_key)
    page.dispatch_event("#apikey", "change")
    page.wait_for_function("document.getElementById('model').textContent === 'longvid-serve-fake'")
    upload_and_wait(page, clip)
    # the player loads through the media cookie (a <video> cannot send the header)
    assert ask_and_click_first_moment(page, "What is the code?") == 1.0
    assert page.inner_text("#answer").strip() == fake_answer
    assert "keeps no index" in page.inner_text("#timeline-note")
    page.screenshot(path=str(tmp_path / "fake.png"))
    std, _ = not_blank(tmp_path / "fake.png")
    assert std > 10
    page.close()
