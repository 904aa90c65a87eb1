"""The public API as the signed-in user: every call carries their own key, so the dashboard can never do more
than that key could (the gateway checks the role of each operation as for any client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from gateway.settings import API_PREFIX, GatewaySettings

TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# For a call whose answer takes as long as its bytes are many (completing a multi-GB upload checks its SHA-256 and
# unpacks it before answering), as the gateway's own proxy waits.
UNBOUNDED = httpx.Timeout(connect=5.0, read=None, write=None, pool=30.0)


class ApiError(Exception):
    """An answer of 400 or more from the API, with its problem's title and detail for the page."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        title, detail = response.reason_phrase, ""
        if response.headers.get("content-type", "").split(";")[0].endswith("json"):
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                title = str(body.get("title") or title)
                detail = str(body.get("detail") or "")
        return cls(response.status_code, title, detail)


def http_client(app: FastAPI) -> httpx.AsyncClient:
    """One connection pool for every user's calls, made on first use and closed with the app."""
    client: httpx.AsyncClient | None = getattr(app.state, "dashboard_http", None)
    if client is None:
        settings: GatewaySettings = app.state.settings
        client = httpx.AsyncClient(base_url=settings.dashboard_api_base() + API_PREFIX, timeout=TIMEOUT)
        app.state.dashboard_http = client
    return client


async def close_http_client(app: FastAPI) -> None:
    client: httpx.AsyncClient | None = getattr(app.state, "dashboard_http", None)
    if client is not None:
        await client.aclose()


class AmberApi:
    def __init__(self, http: httpx.AsyncClient, username: str, key: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"ApiKey {username}:{key}"}

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
        content: Any = None, headers: dict[str, str] | None = None, timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        response = await self.http.request(
            method, path, params=clean, json=json, content=content, headers={**self.headers, **(headers or {})},
            timeout=timeout or httpx.USE_CLIENT_DEFAULT,
        )
        if response.status_code >= 400:
            raise ApiError.of(response)
        return response

    async def get(self, path: str, /, **params: Any) -> Any:
        return (await self.request("GET", path, params=params)).json()

    async def post(self, path: str, json: Any = None, /, **params: Any) -> Any:
        response = await self.request("POST", path, params=params, json=json)
        return response.json() if response.content else None

    async def open(self, path: str) -> httpx.Response:
        """A GET whose body the caller streams and then closes (`aclose`)."""
        response = await self.http.send(self.http.build_request("GET", path, headers=self.headers), stream=True)
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise ApiError.of(response)
        return response

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, *, content: Any = None, headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """A response whose body is read as it arrives (downloads, chunk uploads): nothing held whole."""
        request = self.http.build_request(
            method, path, params=params, content=content, headers={**self.headers, **(headers or {})}
        )
        response = await self.http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise ApiError.of(response)
            yield response
        finally:
            await response.aclose()
