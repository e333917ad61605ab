"""The FastAPI application: routes wired to the library, the upload store, jobs and the engine.

Design decisions:
- ``create_app(settings)`` builds everything at once (engine, stores, workers), so a bad option
  or a missing dependency fails at start with its message, not at the first request. Jobs left
  unfinished by a previous server are resumed when the app starts serving.
- Every ``/v1`` route requires the API key when one is set (``safety.check_api_key``). The page
  at ``/`` and its two static files hold no data and are served without it; the page asks for
  the key and sends it with each API call.
- A question about a video that is still indexing waits for the index (the request just takes
  longer), like ``longvid ask`` on a new video; a failed index answers 409 with its message.
- Server paths never appear in responses: videos are named by id, keyframes by their number in
  the video's timeline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

from longvid.errors import require

for _module in ("fastapi", "uvicorn", "python_multipart"):  # one clear message naming the extra
    require(_module, extra="serve", package=_module.replace("_", "-"))

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from longvid.serve import apierrors, safety
from longvid.serve.apierrors import ApiError, from_longvid
from longvid.serve.library import Library, VideoRecord
from longvid.serve.openai_api import ChatRequest
from longvid.serve.settings import ServeSettings

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}  # the only files /static serves
HEARTBEAT_S = 15.0  # an SSE comment this often keeps proxies from closing an idle progress stream


class Server:
    """Everything one running server holds."""

    def __init__(self, settings: ServeSettings) -> None:
        from longvid.offline.cache import cache_root
        from longvid.serve.answering import build
        from longvid.serve.jobs import IndexQueue
        from longvid.serve.uploads import UploadStore

        self.settings = settings
        root = cache_root(settings.cache_dir) / "serve"
        self.library = Library(root / "videos")
        self.uploads = UploadStore(root / "uploads", max_bytes=settings.max_upload_bytes,
                                   max_duration_s=settings.max_duration_s)
        self.allowed = settings.allowed_roots
        self.engine, self.backend = build(settings)
        self.jobs = IndexQueue(self.library, self.backend, workers=settings.index_workers,
                               max_queued=settings.max_queued_jobs, lock_dir=root / "jobs") if self.backend else None

    # ------------------------------------------------------------------ videos
    def record(self, video_id: str) -> VideoRecord:
        rec = self.library.get(safety.check_video_id(video_id))
        if rec is None:
            raise ApiError(404, f"unknown video id {video_id!r}: upload it with POST /v1/videos first",
                           "video_not_found", "video_id")
        return rec

    def add(self, *, video_id: str, path: Path, name: str, source: str, size: int, duration_s: float) -> VideoRecord:
        """Register a video (once) and start its indexing job; the record as it stands."""
        rec = self.library.get(video_id)
        if rec is None or not Path(rec.path).is_file():
            done = self.jobs is None  # an engine without an index is ready at once
            rec = self.library.put(VideoRecord(video_id, str(path), name, source, size, duration_s,
                                               state="done" if done else "queued", progress=1.0 if done else 0.0))
        if self.jobs is not None:
            try:
                self.jobs.submit(video_id)
            except ApiError as exc:  # queue full: no job will pick it up, so say so in the record
                self.library.update(video_id, state="failed", error={"message": exc.message, "type": "QueueFull"})
                raise
        return self.library.get(video_id)

    def check_readable(self, rec: VideoRecord) -> Path:
        """The record's file, re-checked: inside the upload store or a folder allowed now."""
        path = Path(rec.path)
        roots = (self.uploads.root.resolve(), *self.allowed)
        if not path.is_file() or not safety.is_inside(path, roots):
            raise ApiError(404, f"the file of video {rec.id} is gone or no longer allowed; upload it again",
                           "video_not_found", "video_id")
        return path

    async def from_url(self, url: str) -> VideoRecord:
        from longvid.serve.openai_api import LONGVID_SCHEME, check_video_url, decode_data_url

        kind = check_video_url(url)
        if kind == "longvid":
            return self.record(url[len(LONGVID_SCHEME):])
        if kind == "data":
            data = decode_data_url(url, self.settings.max_upload_bytes)
            suffix = url[len("data:video/"):].split(";", 1)[0].split("+", 1)[0] or "mp4"
            stored = await asyncio.to_thread(self.uploads.store_bytes, data, f"data-url.{suffix}")
            return self.add(video_id=stored.id, path=stored.path, name=stored.name, source="data",
                            size=stored.size_bytes, duration_s=stored.duration_s)
        path = safety.resolve_file_url(url, self.allowed)

        def admit():
            from longvid.offline.hashing import content_hash
            from longvid.serve.uploads import check_video

            info = check_video(path, self.settings.max_duration_s, param="video_url")
            return content_hash(path), info

        video_id, info = await asyncio.to_thread(admit)
        return self.add(video_id=video_id, path=path, name=path.name, source="file",
                        size=path.stat().st_size, duration_s=info.duration_s)

    async def wait_indexed(self, video_id: str) -> VideoRecord:
        while True:
            rec = self.library.get(video_id)
            if rec.state == "done":
                return rec
            if rec.state == "failed":
                raise ApiError(409, f"indexing video {video_id} failed: {rec.error['message']}", "index_failed",
                               "video_url")
            await asyncio.sleep(self.settings.stream_poll_s)

    # ------------------------------------------------------------------ index views
    def index_of(self, rec: VideoRecord):
        if self.backend is None:
            raise ApiError(404, f"the {self.engine.name} engine keeps no index, so it has no timeline or "
                           "keyframes", "no_index", "video_id")
        if rec.state != "done":
            raise ApiError(409, f"video {rec.id} is not indexed yet ({rec.state}, {rec.progress:.0%}); "
                           "follow GET /v1/videos/{id}/events", "not_indexed", "video_id")
        idx = self.backend.open(rec.path)
        if idx is None:
            raise ApiError(404, f"the {self.engine.name} engine keeps no index, so it has no timeline or "
                           f"keyframes for video {rec.id}", "no_index", "video_id")
        return idx

    def keyframe_urls(self, rec: VideoRecord, evidence) -> list[str | None]:
        idx = self.backend.open(rec.path) if self.backend is not None and rec.state == "done" else None
        where = {}
        if idx is not None:
            for n, seg in enumerate(idx.segments):
                path = idx.keyframe_path(seg)
                if path is not None:
                    where.setdefault(path, n)
        return [f"/v1/videos/{rec.id}/keyframes/{where[e.keyframe]}" if e.keyframe in where else None
                for e in evidence]

    def close(self) -> None:
        self.engine.close()


def create_app(settings: ServeSettings) -> FastAPI:
    server = Server(settings)

    @asynccontextmanager
    async def lifespan(_app):
        if server.jobs is not None:
            n = server.jobs.resume()
            if n:
                logger.info("resumed %d unfinished indexing job(s)", n)
        yield
        server.close()

    app = FastAPI(title="longvid", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server
    apierrors.install(app)

    def auth(request: Request) -> None:
        safety.check_api_key(settings.api_key, request.headers.get("authorization"))

    def media_auth(request: Request) -> None:
        safety.check_api_key(settings.api_key, request.headers.get("authorization"),
                             request.cookies.get(safety.KEY_COOKIE))

    media = APIRouter(prefix="/v1", dependencies=[Depends(media_auth)])
    guarded = APIRouter(prefix="/v1", dependencies=[Depends(auth)])

    # ------------------------------------------------------------------ the page
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        if name not in STATIC_FILES:
            raise ApiError(404, f"no static file {name!r}", "not_found")
        return FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name])

    # ------------------------------------------------------------------ models
    @guarded.get("/models")
    async def models():
        return {"object": "list", "data": [{"id": settings.model_id, "object": "model", "created": 0,
                                            "owned_by": "longvid"}]}

    # ------------------------------------------------------------------ videos
    @guarded.post("/videos", status_code=201)
    async def upload(request: Request):
        stored = await server.uploads.receive(request)
        rec = server.add(video_id=stored.id, path=stored.path, name=stored.name, source="upload",
                         size=stored.size_bytes, duration_s=stored.duration_s)
        return JSONResponse(rec.public(), status_code=201 if stored.is_new else 200)

    @guarded.get("/videos")
    async def list_videos():
        return {"object": "list", "data": [r.public() for r in server.library.all()]}

    @guarded.get("/videos/{video_id}")
    async def video(video_id: str):
        return server.record(video_id).public()

    @guarded.get("/videos/{video_id}/events")
    async def events(video_id: str, request: Request):
        server.record(video_id)

        async def stream():
            last, beat = None, time.monotonic()
            while True:
                rec = server.library.get(video_id)
                if rec != last:
                    yield f"event: progress\ndata: {json.dumps(rec.public())}\n\n"
                    last = rec
                if rec.state in ("done", "failed"):
                    yield f"event: {rec.state}\ndata: {json.dumps(rec.public())}\n\n"
                    return
                if time.monotonic() - beat > HEARTBEAT_S:
                    yield ": still indexing\n\n"
                    beat = time.monotonic()
                await asyncio.sleep(settings.stream_poll_s)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @guarded.get("/videos/{video_id}/timeline")
    async def timeline(video_id: str):
        rec = server.record(video_id)
        idx = await asyncio.to_thread(server.index_of, rec)
        m = idx.manifest
        return {"object": "timeline", "video_id": rec.id, "duration_s": m.get("duration_s", rec.duration_s),
                "frames": m.get("frames"), "kept_frames": m.get("kept_frames"),
                "segments": [{"n": n, "start_s": s.start_s, "end_s": s.end_s, "transcript": s.transcript,
                              "on_screen_text": s.on_screen, "tags": list(s.tags),
                              "keyframe_url": f"/v1/videos/{rec.id}/keyframes/{n}" if s.keyframe else None}
                             for n, s in enumerate(idx.segments)]}

    @media.get("/videos/{video_id}/file")
    async def video_file(video_id: str):
        rec = server.record(video_id)
        path = server.check_readable(rec)
        return FileResponse(path, filename=rec.name, content_disposition_type="inline")

    @media.get("/videos/{video_id}/keyframes/{n}")
    async def keyframe(video_id: str, n: int):
        rec = server.record(video_id)
        idx = await asyncio.to_thread(server.index_of, rec)
        if not 0 <= n < len(idx.segments) or not idx.segments[n].keyframe:
            raise ApiError(404, f"video {rec.id} has no keyframe {n} (its timeline has {len(idx.segments)} "
                           "segments; GET /v1/videos/{id}/timeline lists them)", "keyframe_not_found", "n")
        path = Path(idx.keyframe_path(idx.segments[n]))
        if not path.is_file() or not safety.is_inside(path, (Path(idx.folder).resolve(),)):
            raise ApiError(404, f"keyframe {n} of video {rec.id} is missing from its index", "keyframe_not_found", "n")
        return FileResponse(path, media_type="image/jpeg")

    # ------------------------------------------------------------------ chat
    @guarded.post("/chat/completions")
    async def chat(req: ChatRequest, request: Request):
        from longvid.engines import check_question
        from longvid.errors import LongvidError
        from longvid.serve import openai_api as oa

        if req.model != settings.model_id:
            raise ApiError(404, f"model {req.model!r} is not served here; this server answers with "
                           f"{settings.model_id!r} (GET /v1/models)", "model_not_found", "model")
        q = oa.parse_request(req)
        try:
            question = check_question(q.text)
        except LongvidError as exc:
            raise from_longvid(exc) from exc
        rec = await server.from_url(q.video_url)
        rec = await server.wait_indexed(rec.id)
        path = str(server.check_readable(rec))
        cid = oa.new_id()

        def finish(reply):
            urls = server.keyframe_urls(rec, reply.answer.evidence)
            return reply.usage.as_dict(), oa.longvid_extra(reply.answer, rec.id, urls, reply.usage.unit)

        if not req.stream:
            reply = await asyncio.wrap_future(server.engine.submit(path, question))
            usage, extra = await asyncio.to_thread(finish, reply)
            return oa.completion(cid, settings.model_id, reply.answer, usage, extra)

        include_usage = bool((req.stream_options or {}).get("include_usage"))
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue = asyncio.Queue()

        def on_text(s: str) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, s)

        future = server.engine.submit(path, question, on_text)
        future.add_done_callback(lambda _f: loop.call_soon_threadsafe(pieces.put_nowait, None))

        async def stream():
            created = int(time.time())
            streamed = False
            try:
                yield oa.sse(oa.chunk(cid, settings.model_id, created, {"role": "assistant", "content": ""}))
                while (piece := await pieces.get()) is not None:
                    if piece:
                        streamed = True
                        yield oa.sse(oa.chunk(cid, settings.model_id, created, {"content": piece}))
                try:
                    reply = future.result()
                except LongvidError as exc:
                    yield oa.sse(from_longvid(exc).body())
                    return
                except Exception as exc:
                    logger.exception("answering failed")
                    yield oa.sse(ApiError(500, f"internal error while answering ({type(exc).__name__})",
                                          "internal_error", type="server_error").body())
                    return
                if not streamed:  # an engine without token streaming: the answer, once complete
                    yield oa.sse(oa.chunk(cid, settings.model_id, created, {"content": reply.answer.text}))
                usage, extra = await asyncio.to_thread(finish, reply)
                yield oa.sse(oa.chunk(cid, settings.model_id, created, {}, "stop", longvid=extra))
                if include_usage:
                    yield oa.sse(oa.usage_chunk(cid, settings.model_id, created, usage))
                yield "data: [DONE]\n\n"
            finally:
                future.cancel()  # a client gone before its turn: the question is not run at all

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.include_router(guarded)
    app.include_router(media)
    return app
