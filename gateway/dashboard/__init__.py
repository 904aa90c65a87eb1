"""The archivists' dashboard: server-rendered pages under /dashboard that use Amber only through its public API,
with the signed-in user's own key (`api.py`), so a page can never do more than that user could with curl.

Sessions (`sessions.py`, `sealing.py`) keep the key sealed under the cookie's token; every state-changing request
carries a CSRF token (`deps.py`). HTMX and the other browser files are vendored in `static/vendor/` with their
licences: nothing is fetched from the internet at run time. `/docs` is served from vendored Swagger UI too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway.dashboard import admin, auth_router, docs, processing, storage, transfers
from gateway.dashboard.api import close_http_client
from gateway.dashboard.pages import PREFIX, install_handlers

ROUTERS = [auth_router.router, processing.router, transfers.router, storage.router, admin.router, docs.router]
# FastAPI's own pages load Swagger UI and ReDoc from a CDN; ours replace them.
CDN_PAGES = {"/docs", "/docs/oauth2-redirect", "/redoc"}


def install(app: FastAPI) -> None:
    app.router.routes[:] = [route for route in app.router.routes if getattr(route, "path", None) not in CDN_PAGES]
    for router in ROUTERS:
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=Path(__file__).parent / "static"), name="dashboard-static")
    install_handlers(app)


__all__ = ["close_http_client", "install"]
