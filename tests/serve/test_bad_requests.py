"""Every bad request answered with the right status and a clear message, in the OpenAI error format."""

from __future__ import annotations

import os

import pytest


def ask(live, url: str, question: str = "What is the code?", client=None, **more):
    body = {"model": "longvid-serve-fake", "messages": [{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": url}}, {"type": "text", "text": question}]}], **more}
    return (client or live.client).post("/v1/chat/completions", json=body)


def error_of(r, status: int, code: str | None = None) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"] and isinstance(err["type"], str)
    if code is not None:
        assert err["code"] == code, err
    return err["message"]


def store_listing(live) -> list[str]:
    root = live.cache / "serve" / "uploads"
    return sorted(p.name for p in root.rglob("*"))


@pytest.mark.parametrize("url,expect", [
    ("http://example.com/v.mp4", "unsupported video URL"),
    ("data:text/plain;base64,AAAA", "data:video/<type>;base64"),
    ("data:video/mp4,notbase64", "data:video/<type>;base64"),
    ("data:video/mp4;base64,%%%%", "does not decode"),
    ("file://otherhost/etc/passwd", "bad file URL"),
    ("file:relative/path.mp4", "must be absolute"),
    ("file:///tmp/v.mp4?x=1", "bad file URL"),
])
def test_bad_url(fake_server, url, expect):
    assert expect in error_of(ask(fake_server, url), 400, "invalid_url")


def test_data_url_videos_are_admitted_like_uploads(fake_server, clip):
    """A ``data:video/...`` URL (what vLLM clients send) is the video itself: checked and stored
    like an upload, with the same limits; a bad one leaves the store alone."""
    import base64

    before = store_listing(fake_server)
    junk = base64.b64encode(b"hello, I am a text file\n" * 50).decode()
    assert "not a" in error_of(ask(fake_server, f"data:video/mp4;base64,{junk}"), 400, "invalid_video").lower()
    big = base64.b64encode(os.urandom(4 * 2**20)).decode()  # the fake server allows 3 MiB
    assert "larger than this server's limit" in error_of(ask(fake_server, f"data:video/mp4;base64,{big}"), 413,
                                                         "upload_too_large")
    assert store_listing(fake_server) == before
    good = base64.b64encode(clip.read_bytes()).decode()
    r = ask(fake_server, f"data:video/mp4;base64,{good}")
    assert r.status_code == 200, r.text
    (rec,) = [v for v in fake_server.client.get("/v1/videos").json()["data"] if v["source"] == "data"]
    assert rec["size_bytes"] == clip.stat().st_size


def test_disallowed_path(fake_server, clip):
    msg = error_of(ask(fake_server, f"file://{clip}"), 403, "path_not_allowed")
    assert "outside the folders" in msg and "--allow-dir" in msg
    # a path that does not exist outside is refused the same way (no probing of the filesystem)
    assert "outside the folders" in error_of(ask(fake_server, "file:///nonexistent/x.mp4"), 403, "path_not_allowed")
    dotdot = f"file://{fake_server.allowed}/../{clip.parent.name}/{clip.name}"
    error_of(ask(fake_server, dotdot), 403, "path_not_allowed")


def test_symlink_escape(fake_server, clip):
    link = fake_server.allowed / "escape.mp4"
    link.symlink_to(clip)
    msg = error_of(ask(fake_server, f"file://{link}"), 403, "path_not_allowed")
    assert "symlinks are followed" in msg
    folder_link = fake_server.allowed / "outside-folder"
    folder_link.symlink_to(clip.parent, target_is_directory=True)
    error_of(ask(fake_server, f"file://{folder_link}/{clip.name}"), 403, "path_not_allowed")


def test_missing_file_inside_allowed_dir(fake_server):
    msg = error_of(ask(fake_server, f"file://{fake_server.allowed}/nope.mp4"), 404, "video_not_found")
    assert "does not exist" in msg


def test_not_a_video_by_file_url(fake_server):
    bad = fake_server.allowed / "notes.mp4"
    bad.write_text("these are not video bytes\n" * 20)
    msg = error_of(ask(fake_server, f"file://{bad}"), 400, "invalid_video")
    assert "not a video" in msg.lower() or "cannot be opened" in msg


def test_oversize_upload(fake_server):
    before = store_listing(fake_server)
    big = os.urandom(4 * 2**20)  # the fake server allows 3 MiB
    r = fake_server.client.post("/v1/videos", files={"file": ("big.mp4", big, "video/mp4")})
    assert "larger than this server's limit" in error_of(r, 413, "upload_too_large")
    assert store_listing(fake_server) == before


def test_oversize_upload_without_content_length_is_cut_off_while_streaming(fake_server):
    before = store_listing(fake_server)
    boundary = "xYzBoUnDaRy"

    def body():  # a chunked body: the server cannot know its size up front
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
               "Content-Type: video/mp4\r\n\r\n").encode()
        for _ in range(8):
            yield os.urandom(2**19)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = fake_server.client.post("/v1/videos", content=body(),
                                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    error_of(r, 413, "upload_too_large")
    assert store_listing(fake_server) == before


@pytest.mark.parametrize("payload,expect", [
    (b"", "empty"),
    (b"hello, I am a text file\n" * 100, "not a"),
    (b"\x00\x00\x00\x18ftypisom" + os.urandom(5000), ""),  # an MP4 header over garbage: corrupt
])
def test_non_video_or_corrupt_upload_leaves_the_store_alone(fake_server, payload, expect):
    before = store_listing(fake_server)
    n_videos = len(fake_server.client.get("/v1/videos").json()["data"])
    r = fake_server.client.post("/v1/videos", files={"file": ("evil.mp4", payload, "video/mp4")})
    msg = error_of(r, 400)
    assert r.json()["error"]["code"] == "invalid_video"
    assert expect in msg.lower()
    assert "/.incoming/" not in msg and ".part" not in msg  # the server's temp path is not shown
    assert store_listing(fake_server) == before
    assert len(fake_server.client.get("/v1/videos").json()["data"]) == n_videos


def test_truncated_video_upload(fake_server, media):
    video = media("truncated-src.mp4", duration_s=2.0, fps=10)
    data = video.read_bytes()
    before = store_listing(fake_server)
    r = fake_server.client.post("/v1/videos", files={"file": ("cut.mp4", data[: len(data) // 3], "video/mp4")})
    error_of(r, 400, "invalid_video")
    assert store_listing(fake_server) == before


def test_too_long_video(fake_server, media):
    long = media("long-2min.mp4", duration_s=70.0, fps=1, size=(64, 48))  # the fake server allows 60 s
    with open(long, "rb") as f:
        r = fake_server.client.post("/v1/videos", files={"file": ("long.mp4", f, "video/mp4")})
    assert "over this server's limit of 60 s" in error_of(r, 400, "video_too_long")


def test_upload_not_multipart_or_without_file(fake_server):
    r = fake_server.client.post("/v1/videos", content=b"raw bytes", headers={"Content-Type": "video/mp4"})
    assert "multipart/form-data" in error_of(r, 400, "invalid_upload")
    r = fake_server.client.post("/v1/videos", data={"purpose": "x"}, files={"other": ("a.txt", b"abc")})
    assert "no file in the upload" in error_of(r, 400, "invalid_upload")


ROUTES = [
    ("GET", "/v1/models"), ("GET", "/v1/videos"), ("POST", "/v1/videos"), ("POST", "/v1/chat/completions"),
    ("GET", "/v1/videos/{id}"), ("GET", "/v1/videos/{id}/events"), ("GET", "/v1/videos/{id}/timeline"),
    ("GET", "/v1/videos/{id}/file"), ("GET", "/v1/videos/{id}/keyframes/0"),
]


@pytest.mark.parametrize("method,route", ROUTES)
def test_missing_or_wrong_key_on_every_route(fake_server, clip, method, route):
    vid = fake_server.upload(clip)["id"]
    path = route.format(id=vid)
    msg = error_of(fake_server.anon.request(method, path), 401, "missing_api_key")
    assert "Authorization: Bearer" in msg
    r = fake_server.anon.request(method, path, headers={"Authorization": "Bearer nope"})
    assert error_of(r, 401, "invalid_api_key") == "incorrect API key"
    # the page's media cookie opens the media routes only
    r = fake_server.anon.request(method, path, headers={"Cookie": "longvid_api_key=test-key-123"})
    if route.endswith(("/file", "/keyframes/0")):
        assert r.status_code != 401
    else:
        error_of(r, 401, "missing_api_key")


@pytest.mark.parametrize("vid", ["0" * 32, "not-an-id", "..%2F..%2Fetc", "A" * 32])
def test_unknown_video_id(fake_server, vid):
    for path in (f"/v1/videos/{vid}", f"/v1/videos/{vid}/events", f"/v1/videos/{vid}/keyframes/1",
                 f"/v1/videos/{vid}/file"):
        r = fake_server.client.get(path)
        assert r.status_code == 404, (path, r.text)
        assert "unknown video id" in r.json()["error"]["message"] or "no such route" in r.json()["error"]["message"]
    assert "unknown video id" in error_of(ask(fake_server, f"longvid://{vid}"), 404, "video_not_found")


def test_keyframes_of_an_engine_without_index(fake_server, clip):
    vid = fake_server.upload(clip)["id"]
    fake_server.wait_done(vid)
    assert "keeps no index" in error_of(fake_server.client.get(f"/v1/videos/{vid}/keyframes/0"), 404, "no_index")
    error_of(fake_server.client.get(f"/v1/videos/{vid}/keyframes/x"), 400)


def test_bad_chat_bodies(fake_server, clip):
    vid = fake_server.upload(clip)["id"]
    url = f"longvid://{vid}"
    assert "not served here" in error_of(
        fake_server.client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [
            {"role": "user", "content": [{"type": "video_url", "video_url": {"url": url}}, {"type": "text", "text": "q"}]}]}),
        404, "model_not_found")
    assert "the question is empty" in error_of(ask(fake_server, url, "   "), 400, "empty_question")
    r = fake_server.client.post("/v1/chat/completions", json={"model": "longvid-serve-fake", "messages": [
        {"role": "user", "content": "what happens?"}]})
    assert "no video in the request" in error_of(r, 400, "missing_video")
    r = fake_server.client.post("/v1/chat/completions", json={"model": "longvid-serve-fake", "messages": [
        {"role": "user", "content": [{"type": "video_url", "video_url": {"url": url}},
                                     {"type": "video_url", "video_url": {"url": url}}, {"type": "text", "text": "q"}]}]})
    assert "2 videos in one request" in error_of(r, 400, "too_many_videos")
    r = fake_server.client.post("/v1/chat/completions", json={"model": "longvid-serve-fake", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                                     {"type": "text", "text": "q"}]}]})
    assert "image_url parts are not supported" in error_of(r, 400, "unsupported_content")
    r = fake_server.client.post("/v1/chat/completions", json={"model": "longvid-serve-fake"})
    assert "messages" in error_of(r, 400, "invalid_request")
    r = fake_server.client.post("/v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"})
    error_of(r, 400, "invalid_request")
    assert "n=2" in error_of(ask(fake_server, url, n=2), 400, "unsupported")


def test_unknown_route_and_method(fake_server):
    assert "no such route" in error_of(fake_server.client.get("/v1/nothing"), 404)
    error_of(fake_server.client.delete("/v1/models"), 405)
