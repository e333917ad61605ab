"""Errors in the OpenAI format: ``{"error": {"message", "type", "param", "code"}}``.

Design decisions:
- Handlers raise ``ApiError(status, message, ...)``; longvid's own typed errors are mapped to a
  status here, once, and keep the message the CLI prints (it says what was wrong and what to do).
- FastAPI's request validation errors and Starlette's 404/405 are rewritten into the same format,
  so a client sees one shape for every failure. Unexpected exceptions are logged with their
  traceback and answered with a 500 that does not leak internals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from longvid.engines import EmptyQuestionError
from longvid.errors import (
    BudgetError,
    IndexCorruptError,
    LongvidError,
    MissingDependencyError,
    ModelLoadError,
    VideoError,
    VideoNotFoundError,
)

logger = logging.getLogger(__name__)

# OpenAI's error types by status (what its clients map to exception classes)
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 409: "conflict_error", 413: "invalid_request_error",
          422: "invalid_request_error", 429: "rate_limit_error", 503: "server_error"}


@dataclass
class ApiError(Exception):
    status: int
    message: str
    code: str | None = None
    param: str | None = None
    type: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type or _TYPES.get(self.status, "server_error"),
                          "param": self.param, "code": self.code}}


def from_longvid(exc: LongvidError, *, param: str | None = None) -> ApiError:
    """The HTTP answer to one of longvid's typed errors, with its own message."""
    msg = str(exc)
    if isinstance(exc, VideoNotFoundError):
        return ApiError(404, msg, "video_not_found", param)
    if isinstance(exc, VideoError):
        return ApiError(400, msg, "invalid_video", param)
    if isinstance(exc, EmptyQuestionError):
        return ApiError(400, msg, "empty_question", "messages")
    if isinstance(exc, BudgetError):
        return ApiError(400, msg, "budget", param)
    if isinstance(exc, MissingDependencyError):
        return ApiError(500, msg, "missing_dependency", None, "server_error")
    if isinstance(exc, (IndexCorruptError, ModelLoadError)):
        return ApiError(500, msg, "engine_error", None, "server_error")
    return ApiError(400, msg, type(exc).__name__, param)


def install(app) -> None:
    """Register the handlers that turn every failure into the OpenAI error format."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def _api(_request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(LongvidError)
    async def _longvid(_request, exc: LongvidError):
        err = from_longvid(exc)
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x != "body"]
        where = ".".join(loc) or None
        msg = f"invalid request: {where + ': ' if where else ''}{first.get('msg', 'malformed body')}"
        return JSONResponse(ApiError(400, msg, "invalid_request", where).body(), status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(_request, exc: HTTPException):
        msg = {404: "no such route: see docs/serve.md for the endpoints",
               405: "method not allowed on this route"}.get(exc.status_code, str(exc.detail))
        return JSONResponse(ApiError(exc.status_code, msg, None).body(), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request, exc: Exception):
        logger.exception("unexpected error while serving a request")
        err = ApiError(500, f"internal error ({type(exc).__name__}); the server log has the details",
                       "internal_error", None, "server_error")
        return JSONResponse(err.body(), status_code=500)
