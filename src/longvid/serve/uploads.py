"""Uploaded videos, stored by content hash.

Design decisions:
- The multipart body is parsed as it streams in (python-multipart's push parser) and the file
  part is written straight to a temp file inside the store's own ``.incoming/`` folder, counting
  bytes: an upload over ``max_upload_bytes`` is cut off there (413), not after the whole body has
  been spooled somewhere. A ``Content-Length`` already over the limit is refused before reading.
- Nothing reaches the store unchecked: the temp file is probed (``longvid.io.probe``) and its
  duration checked; a non-video, corrupt or too long upload is deleted and answered with longvid's
  own message, and the store is untouched. A good one is fsynced and renamed into place
  (``<id><suffix>``, atomic on one filesystem). If that id is already stored the new copy is
  dropped: the same video is kept, and indexed, once.
- The stored name's suffix comes from the upload's file name only when it is a plain video
  suffix (players need it to pick a type); the rest of the name is display text, never a path.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from longvid.serve.apierrors import ApiError

logger = logging.getLogger(__name__)

FILE_FIELD = "file"  # the multipart field that carries the video
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv")
_MULTIPART_SLACK = 64 * 1024  # headers and boundaries around the file part, allowed over the limit


@dataclass(frozen=True)
class StoredVideo:
    id: str
    path: Path
    name: str
    size_bytes: int
    duration_s: float
    is_new: bool  # False: the same content was already stored


def safe_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix in VIDEO_SUFFIXES else ".mp4"


def display_name(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1]
    return re.sub(r"[^\w .()\[\]-]", "_", base)[:200] or "video"


def check_video(path: Path, max_duration_s: float, *, param: str, shown: str | None = None):
    """Probe ``path``; a typed VideoError becomes a 400 with its message (naming ``shown``
    instead of a temp path of the server's)."""
    from longvid.errors import VideoError
    from longvid.io import probe
    from longvid.serve.apierrors import from_longvid

    try:
        info = probe(path)
    except VideoError as exc:
        err = from_longvid(exc, param=param)
        if shown is not None:
            err.message = err.message.replace(repr(str(path)), repr(shown)).replace(str(path), shown)
        raise err from exc
    if info.duration_s > max_duration_s:
        raise ApiError(400, f"the video lasts {info.duration_s:.0f} s, over this server's limit of "
                       f"{max_duration_s:.0f} s (--max-duration)", "video_too_long", param)
    return info


class UploadStore:
    def __init__(self, root: Path, *, max_bytes: int, max_duration_s: float) -> None:
        self.root = Path(root)
        self.incoming = self.root / ".incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_duration_s = max_duration_s
        for stale in self.incoming.iterdir():  # left by a server killed mid-upload
            stale.unlink(missing_ok=True)

    def find(self, video_id: str) -> Path | None:
        for p in self.root.glob(f"{video_id}.*"):
            if p.is_file():
                return p
        return None

    async def receive(self, request) -> StoredVideo:
        """Stream a ``multipart/form-data`` request's ``file`` part into the store."""
        from python_multipart.multipart import MultipartParser, parse_options_header

        ctype, params = parse_options_header(request.headers.get("content-type", ""))
        if ctype != b"multipart/form-data" or b"boundary" not in params:
            raise ApiError(400, f"upload the video as multipart/form-data in a part named {FILE_FIELD!r} "
                           f"(curl -F {FILE_FIELD}=@video.mp4)", "invalid_upload", FILE_FIELD)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes + _MULTIPART_SLACK:
            raise self._too_large()

        fd, tmp_name = tempfile.mkstemp(prefix=f"{uuid.uuid4().hex}.", suffix=".part", dir=self.incoming)
        tmp = Path(tmp_name)
        out = os.fdopen(fd, "wb")
        part = {"headers": {}, "field": b"", "value": b"", "is_file": False}
        found = {"count": 0, "name": "", "bytes": 0}

        def on_header_field(data, start, end):
            part["field"] += data[start:end]

        def on_header_value(data, start, end):
            part["value"] += data[start:end]

        def on_header_end():
            part["headers"][part["field"].decode("latin-1").lower()] = part["value"]
            part["field"], part["value"] = b"", b""

        def on_headers_finished():
            _, disp = parse_options_header(part["headers"].get("content-disposition", b""))
            part["is_file"] = disp.get(b"name") == FILE_FIELD.encode() and b"filename" in disp
            if part["is_file"]:
                found["count"] += 1
                found["name"] = disp[b"filename"].decode("utf-8", "replace")

        def on_part_data(data, start, end):
            if part["is_file"] and found["count"] == 1:
                out.write(data[start:end])
                found["bytes"] += end - start

        def on_part_end():
            part["headers"], part["is_file"] = {}, False

        parser = MultipartParser(params[b"boundary"], {
            "on_header_field": on_header_field, "on_header_value": on_header_value,
            "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data, "on_part_end": on_part_end,
        })
        try:
            try:
                async for chunk in request.stream():
                    parser.write(chunk)
                    if found["bytes"] > self.max_bytes:
                        raise self._too_large()
                parser.finalize()
                out.flush()
                os.fsync(out.fileno())
            finally:
                out.close()
            if found["count"] == 0:
                raise ApiError(400, f"no file in the upload: send the video in a multipart part named {FILE_FIELD!r}",
                               "invalid_upload", FILE_FIELD)
            if found["count"] > 1:
                raise ApiError(400, "one video per upload, please", "invalid_upload", FILE_FIELD)
            return self._admit(tmp, found["name"], found["bytes"])
        except ApiError:
            raise
        except Exception as exc:  # a malformed body (python-multipart's own errors)
            if isinstance(exc, (OSError,)):
                raise
            raise ApiError(400, f"malformed multipart upload ({exc})", "invalid_upload", FILE_FIELD) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def store_bytes(self, data: bytes, name: str) -> StoredVideo:
        """Store a video given whole (a ``data:`` URL's payload), with the upload's checks."""
        if len(data) > self.max_bytes:
            raise self._too_large()
        fd, tmp_name = tempfile.mkstemp(prefix=f"{uuid.uuid4().hex}.", suffix=".part", dir=self.incoming)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            return self._admit(tmp, name, len(data))
        finally:
            tmp.unlink(missing_ok=True)

    def _admit(self, tmp: Path, name: str, size: int) -> StoredVideo:
        """Probe the temp file; move it into the store under its content hash."""
        from longvid.offline.hashing import content_hash

        if size == 0:
            raise ApiError(400, "the uploaded file is empty", "invalid_video", FILE_FIELD)
        info = check_video(tmp, self.max_duration_s, param=FILE_FIELD, shown=display_name(name))
        video_id = content_hash(tmp)
        existing = self.find(video_id)
        if existing is not None:
            return StoredVideo(video_id, existing, display_name(name), size, info.duration_s, False)
        final = self.root / f"{video_id}{safe_suffix(name)}"
        os.replace(tmp, final)
        logger.info("stored upload %r as %s (%d bytes, %.1f s)", name, final.name, size, info.duration_s)
        return StoredVideo(video_id, final, display_name(name), size, info.duration_s, True)

    def _too_large(self) -> ApiError:
        return ApiError(413, f"the upload is larger than this server's limit of {self.max_bytes} bytes "
                        "(--max-upload-mb)", "upload_too_large", FILE_FIELD)
