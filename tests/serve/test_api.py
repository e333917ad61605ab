"""The HTTP API over real loopback HTTP, with the fake engine: uploads, jobs, progress, answers."""

from __future__ import annotations

import json

import pytest


def ask_body(url: str, question: str = "What is the vault code?", **more) -> dict:
    return {"model": "longvid-serve-fake", "messages": [{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": url}}, {"type": "text", "text": question}]}], **more}


def sse_events(lines) -> list[tuple[str | None, str]]:
    out, event = [], None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            out.append((event, line[6:]))
            event = None
    return out


def test_models_lists_the_served_model(fake_server):
    r = fake_server.client.get("/v1/models")
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == ["longvid-serve-fake"]


def test_upload_indexes_once_with_progress_events(fake_server, media, index_counts, index_midway):
    video = media("upload-once.mp4", duration_s=1.0, fps=10)
    index_midway.clear()  # the job waits inside its visual stage until the stream has seen it
    try:
        first = fake_server.upload(video)
        assert first["object"] == "video" and len(first["id"]) == 32 and "path" not in first
        with fake_server.client.stream("GET", f"/v1/videos/{first['id']}/events") as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            lines = []
            for line in r.iter_lines():
                lines.append(line)
                if '"stage": "visual"' in line or '"stage":"visual"' in line:
                    index_midway.set()
            events = sse_events(lines)
    finally:
        index_midway.set()
    names = [e for e, _ in events]
    assert names[-1] == "done" and names.count("done") == 1
    progress = [json.loads(d)["progress"] for _, d in events]
    assert progress == sorted(progress) and progress[-1] == 1.0
    stages = {json.loads(d)["stage"] for _, d in events}
    assert {"visual", "speech", "embed"} & stages  # stages were streamed while it ran
    # the same bytes again (under another name): same id, 200 not 201, no second job
    with open(video, "rb") as f:
        r = fake_server.client.post("/v1/videos", files={"file": ("again.mp4", f, "video/mp4")})
    assert r.status_code == 200 and r.json()["id"] == first["id"] and r.json()["state"] == "done"
    rec = fake_server.client.get(f"/v1/videos/{first['id']}").json()
    assert rec["state"] == "done" and rec["progress"] == 1.0 and rec["name"] == "upload-once.mp4"
    stored = [p for p in (fake_server.cache / "serve" / "uploads").iterdir() if p.name.startswith(first["id"])]
    assert len(stored) == 1
    assert sum(n for p, n in index_counts.items() if p.endswith(stored[0].name)) == 1
    listed = fake_server.client.get("/v1/videos").json()["data"]
    assert first["id"] in [v["id"] for v in listed]


def test_video_file_is_served_with_ranges(fake_server, clip):
    rec = fake_server.upload(clip)
    r = fake_server.client.get(f"/v1/videos/{rec['id']}/file", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.content) == 100
    assert r.content == clip.read_bytes()[:100]


def test_ask_not_streaming(fake_server, clip, fake_answer):
    rec = fake_server.upload(clip)
    r = fake_server.client.post("/v1/chat/completions", json=ask_body(f"longvid://{rec['id']}"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": fake_answer}
    assert body["choices"][0]["finish_reason"] == "stop"
    u = body["usage"]
    assert u["completion_tokens"] == len(fake_answer.split()) and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    lv = body["longvid"]
    assert lv["video_id"] == rec["id"] and lv["grounded"] is True and lv["usage_unit"] == "words"
    (m,) = lv["moments"]
    assert (m["start_s"], m["end_s"], m["label"]) == (1.0, 2.0, "[0:01-0:02]")
    assert m["transcript"] == "hello world" and m["on_screen_text"] == "code 4711"


def test_ask_streaming_sends_the_engine_tokens_as_chunks(fake_server, clip, fake_answer):
    rec = fake_server.upload(clip)
    body = ask_body(f"longvid://{rec['id']}", stream=True, stream_options={"include_usage": True})
    with fake_server.client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [d for _, d in sse_events(r.iter_lines())]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(d) for d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert len([c for c in content if c]) == len(fake_answer.split())  # one chunk per streamed word
    assert "".join(content).strip() == fake_answer
    final = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(final) == 1 and final[0]["choices"][0]["finish_reason"] == "stop"
    assert final[0]["longvid"]["moments"][0]["label"] == "[0:01-0:02]"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_file_url_under_an_allowed_dir(fake_server, clip, fake_answer):
    target = fake_server.allowed / "inside.mp4"
    target.write_bytes(clip.read_bytes())
    r = fake_server.client.post("/v1/chat/completions", json=ask_body(f"file://{target}"))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == fake_answer
    vid = r.json()["longvid"]["video_id"]
    rec = fake_server.client.get(f"/v1/videos/{vid}").json()
    assert rec["source"] in ("file", "upload") and rec["state"] == "done"


def test_openai_client(fake_server, clip, fake_answer, api_key):
    openai = pytest.importorskip("openai")

    rec = fake_server.upload(clip)
    client = openai.OpenAI(base_url=fake_server.url + "/v1", api_key=api_key, max_retries=0)
    assert [m.id for m in client.models.list()] == ["longvid-serve-fake"]
    messages = ask_body(f"longvid://{rec['id']}")["messages"]
    resp = client.chat.completions.create(model="longvid-serve-fake", messages=messages)
    assert resp.choices[0].message.content == fake_answer
    assert resp.usage.total_tokens > 0
    assert resp.model_extra["longvid"]["moments"][0]["start_s"] == 1.0  # the extra field survives
    stream = client.chat.completions.create(model="longvid-serve-fake", messages=messages, stream=True)
    parts = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(parts).strip() == fake_answer and sum(bool(p) for p in parts) > 1
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="longvid-serve-fake", messages=ask_body("longvid://" + "0" * 32)["messages"])
    assert "unknown video id" in info.value.message
    bad = openai.OpenAI(base_url=fake_server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_the_page_is_served(fake_server):
    r = fake_server.anon.get("/")
    assert r.status_code == 200 and "<video" in r.text and "/static/app.js" in r.text
    assert fake_server.anon.get("/static/app.js").status_code == 200
    assert fake_server.anon.get("/static/../settings.py").status_code == 404
