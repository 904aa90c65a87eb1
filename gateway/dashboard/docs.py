"""The API docs page, from Swagger UI files vendored into this package (`static/vendor/swagger-ui`, with their
licence), so `/docs` renders in a closed network where a CDN cannot be reached."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse

from gateway.dashboard.pages import PREFIX

router = APIRouter(include_in_schema=False)
ASSETS = f"{PREFIX}/static/vendor/swagger-ui"


@router.get("/docs", response_class=HTMLResponse)
async def api_docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="Amber API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
    )


@router.get("/")
async def front_page() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status_code=307)
