"""The offline engine behind the server: one short generated talk, uploaded and indexed once."""

from __future__ import annotations

import json

import pytest

QUESTION = "What is the vault code?"


def ask_body(vid: str, **more) -> dict:
    return {"model": "longvid-offline", "messages": [{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": f"longvid://{vid}"}}, {"type": "text", "text": QUESTION}]}], **more}


@pytest.mark.slow
def test_upload_indexes_with_stage_progress(indexed_talk):
    rec = indexed_talk["record"]
    assert rec["state"] == "done" and rec["progress"] == 1.0 and rec["error"] is None
    stages = [d["stage"] for e, d in indexed_talk["events"] if e == "progress" and d["stage"]]
    # the stream samples the job's state, so a stage shorter than its poll interval may be skipped;
    # speech runs beside the visual pass, so those two interleave, but nothing comes before
    # "waiting" and nothing after "embed"
    assert stages and set(stages) <= {"waiting", "visual", "speech", "embed"}
    if "waiting" in stages:
        assert stages[: stages.count("waiting")] == ["waiting"] * stages.count("waiting")
    if "embed" in stages:
        first = stages.index("embed")
        assert set(stages[first:]) == {"embed"}
    progress = [d["progress"] for _, d in indexed_talk["events"]]
    assert progress == sorted(progress)


def test_timeline_and_keyframes(real_server, indexed_talk):
    vid = indexed_talk["id"]
    t = real_server.client.get(f"/v1/videos/{vid}/timeline").json()
    assert t["duration_s"] == pytest.approx(24.0, abs=0.5) and 0 < t["kept_frames"] <= t["frames"]
    segs = t["segments"]
    assert segs and segs[0]["start_s"] == 0.0 and segs[-1]["end_s"] == pytest.approx(24.0, abs=0.5)
    assert any("4711" in s["on_screen_text"] for s in segs)
    r = real_server.client.get(segs[0]["keyframe_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert real_server.client.get(f"/v1/videos/{vid}/keyframes/{len(segs)}").status_code == 404


def test_ask_cites_the_moment(real_server, indexed_talk):
    r = real_server.client.post("/v1/chat/completions", json=ask_body(indexed_talk["id"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "4711" in body["choices"][0]["message"]["content"]
    lv = body["longvid"]
    assert lv["grounded"] and lv["usage_unit"] == "tokens" and body["usage"]["prompt_tokens"] > 0
    assert any(m["start_s"] <= 10.0 <= m["end_s"] + 2 for m in lv["moments"]), lv["moments"]
    url = lv["moments"][0]["keyframe_url"]
    assert url and real_server.client.get(url).content[:2] == b"\xff\xd8"


def test_ask_streaming_with_the_openai_client(real_server, indexed_talk):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=real_server.url + "/v1", api_key="unused", max_retries=0, timeout=300)
    chunks = list(client.chat.completions.create(model="longvid-offline", messages=ask_body(indexed_talk["id"])["messages"],
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "4711" in text
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(final) == 1 and final[0].model_extra["longvid"]["moments"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_file_url_of_the_same_video_is_the_same_record(real_server, indexed_talk, talk_video):
    import shutil

    copy = real_server.allowed / "talk-copy.mp4"
    shutil.copy(talk_video, copy)
    body = ask_body("x")
    body["messages"][0]["content"][0]["video_url"]["url"] = f"file://{copy}"
    r = real_server.client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["longvid"]["video_id"] == indexed_talk["id"]  # indexed once, found again by content
    assert json.loads(r.text)["choices"][0]["message"]["content"]
