"""``longvid serve``: an OpenAI-compatible HTTP API and a web page to upload, index and ask.

Public API::

    from longvid.serve import ServeSettings, create_app, running_server
    with running_server(ServeSettings(port=0, allow_dirs=("/videos",))) as url:
        ...  # http://127.0.0.1:<port>/v1/chat/completions, /v1/videos, the page at /

Modules: ``settings`` (every option and default), ``uploads`` (the content-addressed upload
store), ``library`` (persisted video records), ``jobs`` (the indexing worker pool),
``answering`` (the question engine and its lock), ``openai_api`` (request/response format),
``safety`` (paths, ids, API key), ``apierrors`` (the OpenAI error format), ``app`` (routes),
``server`` (uvicorn). docs/serve.md describes the endpoints and the safety model.
FastAPI, uvicorn and python-multipart come with ``pip install 'longvid[serve]'``.
"""

from longvid.serve.settings import ServeConfigError, ServeSettings


def create_app(settings: ServeSettings):
    from longvid.serve.app import create_app as _create

    return _create(settings)


def running_server(settings: ServeSettings):
    from longvid.serve.server import running_server as _running

    return _running(settings)


__all__ = ["ServeConfigError", "ServeSettings", "create_app", "running_server"]
