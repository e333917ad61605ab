"""Running the app with uvicorn: in the foreground (``longvid serve``) or in a thread (tests, bench).

Design decisions:
- ``serve_forever`` is what the CLI runs. ``running_server`` starts uvicorn on a background thread
  with the given settings (``port=0``: a free port), waits until it accepts connections, yields
  its base URL and stops it on exit; the tests and ``bench/serve_load.py`` use it, so they
  exercise the real HTTP stack on loopback, not an in-process shortcut.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from longvid.serve.settings import ServeSettings

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 120.0  # building the engine can load models; a server not up by then failed


def _config(settings: ServeSettings):
    import uvicorn

    from longvid.serve.app import create_app

    return uvicorn.Config(create_app(settings), host=settings.host, port=settings.port, log_level="warning",
                          timeout_graceful_shutdown=2)


def serve_forever(settings: ServeSettings) -> None:
    import uvicorn

    config = _config(settings)
    server = uvicorn.Server(config)
    logger.info("longvid serve: http://%s:%d/ (model %s)", settings.host, settings.port, settings.model_id)
    server.run()


@contextlib.contextmanager
def running_server(settings: ServeSettings) -> Iterator[str]:
    """``with running_server(settings) as url:`` a live server on a background thread."""
    import uvicorn

    config = _config(settings)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="longvid-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server thread stopped during start-up; see its log")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the server did not start within {STARTUP_TIMEOUT_S:.0f} s")
        time.sleep(0.02)
    sock = server.servers[0].sockets[0]
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
