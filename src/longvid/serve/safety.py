"""Checks that stand between a request and the filesystem.

Design decisions:
- ``file://`` URLs: the path is resolved first (symlinks followed, ``..`` collapsed) and only then
  checked for containment in an allowed folder (also resolved), so a symlink inside an allowed
  folder that points outside it is refused like the outside path itself. With no ``--allow-dir``
  every ``file://`` URL is refused. A refused path gets the same answer whether or not it exists.
- Video ids are content hashes: anything that is not 32 lowercase hex digits is refused before
  it is used to build a path; keyframe numbers are integers, looked up in the index (the file
  name always comes from the index, never from the request).
- The API key is compared in constant time. It is read from ``Authorization: Bearer`` on every
  API route; ``<video>`` and ``<img>`` elements cannot send headers, so the web page also sets a
  same-site cookie that is accepted on the two GET media routes (video file, keyframes) only.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from longvid.serve.apierrors import ApiError

VIDEO_ID_RE = re.compile(r"[0-9a-f]{32}")
KEY_COOKIE = "longvid_api_key"  # cookie the web page sets for media elements


def check_video_id(video_id: str) -> str:
    if not VIDEO_ID_RE.fullmatch(video_id or ""):
        raise ApiError(404, f"unknown video id {video_id!r}: ids are the 32-hex-digit ids POST /v1/videos returns",
                       "video_not_found", "video_id")
    return video_id


def resolve_file_url(url: str, allowed: tuple[Path, ...], *, param: str = "video_url") -> Path:
    """The local path a ``file://`` URL names, if it lies inside an allowed folder."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise ApiError(400, f"bad file URL {url!r}: write file:///absolute/path/to/video.mp4", "invalid_url", param)
    raw = unquote(parts.path)
    if not raw.startswith("/") or "\x00" in raw:
        raise ApiError(400, f"bad file URL {url!r}: the path must be absolute", "invalid_url", param)
    if not allowed:
        raise ApiError(403, "file:// URLs are disabled on this server: start it with --allow-dir DIR, "
                       "or upload the video with POST /v1/videos", "path_not_allowed", param)
    path = Path(raw).resolve()  # follows every symlink that exists, collapses ".."
    if not any(path.is_relative_to(root) for root in allowed):
        raise ApiError(403, f"{raw} is outside the folders this server may read (--allow-dir); "
                       "symlinks are followed before this check", "path_not_allowed", param)
    if not path.is_file():
        raise ApiError(404, f"{raw} does not exist or is not a file", "video_not_found", param)
    return path


def is_inside(path: Path, roots: tuple[Path, ...]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(r) for r in roots)


def check_api_key(expected: str | None, authorization: str | None, cookie: str | None = None) -> None:
    """Raise 401 unless the request carries ``expected`` (no key configured: everyone may call)."""
    if not expected:
        return
    given = None
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            given = token.strip()
    if given is None and cookie:
        given = cookie
    if given is None:
        raise ApiError(401, "missing API key: send the header 'Authorization: Bearer <key>' "
                       "(the key the server was started with, --api-key or $LONGVID_API_KEY)",
                       "missing_api_key", type="invalid_request_error")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "incorrect API key", "invalid_api_key", type="invalid_request_error")
