"""RFC 9457 problem details: the one error shape every service and the gateway answer with."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


class ProblemDetail(BaseModel):
    """A problem as described by RFC 9457."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    """Raise from any layer to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.errors = errors
        self.headers = headers


class NotFound(Problem):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__(404, "Not found", f"{what} {ident} does not exist")


class Conflict(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(409, "Conflict", detail)


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    type_: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetail(type=type_, title=title, status=status, detail=detail, instance=instance, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ProblemDetail, "description": "Problem", "content": {PROBLEM_MEDIA_TYPE: {}}},
}
PROBLEM_REF = "#/components/schemas/ProblemDetail"


def _problem_content(content: dict[str, Any]) -> dict[str, Any]:
    """A response's content with the problem schema under the media type problems are served as.

    FastAPI documents a response's `model` under `application/json` and leaves `application/problem+json` without a
    schema; problems never go out as `application/json`, and a generated client (or a schema checker) has to find
    the schema under the type the answer really has.
    """
    if PROBLEM_MEDIA_TYPE not in content or content.get("application/json", {}).get("schema") != {"$ref": PROBLEM_REF}:
        return content
    moved = {media: value for media, value in content.items() if media != "application/json"}
    moved[PROBLEM_MEDIA_TYPE] = {**content[PROBLEM_MEDIA_TYPE], "schema": {"$ref": PROBLEM_REF}}
    return moved


def document_problems(app: FastAPI) -> None:
    """Make `app`'s OpenAPI document describe problems as `application/problem+json` (see `_problem_content`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        built = app.openapi_schema is not None
        doc = build()
        if not built:
            for item in doc.get("paths", {}).values():
                for operation in item.values():
                    for response in operation.get("responses", {}).values() if isinstance(operation, dict) else ():
                        if "content" in response:
                            response["content"] = _problem_content(response["content"])
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


class UnexpectedErrors:
    """Answers an unhandled exception with a 500 problem, and keeps it from the server.

    Starlette's handler for `Exception` answers and then re-raises to the server, and uvicorn closes the connection
    of an application that raised: the gateway's next request on that pooled connection then fails, and is proxied
    as a 502 for an operation that did nothing wrong. Still left to the server: an exception raised once the answer
    has started (the server has to cut the truncated answer off) and one from the connection itself (`receive`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = connection_failed = False

        async def tracking_receive() -> Message:
            nonlocal connection_failed
            try:
                return await receive()
            except BaseException:
                connection_failed = True
                raise

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, tracking_receive, tracking_send)
        except ClientDisconnect:
            # The sender broke the request off (an upload abandoned midway): nobody is left to answer, and nothing
            # failed on this side.
            log.info("the client went away during %s %s", scope["method"], scope["path"])
        except Exception as exc:
            if started or connection_failed:
                raise
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            answer = problem_response(500, "Internal error", type(exc).__name__, instance=scope["path"])
            await answer(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(
            exc.status, exc.title, exc.detail, instance=request.url.path, type_=exc.type, errors=exc.errors,
            headers=exc.headers,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}.get(
            exc.status_code, "HTTP error"
        )
        return problem_response(
            exc.status_code, title, str(exc.detail), instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return problem_response(
            422, "Invalid request", "The request does not match the operation's schema",
            instance=request.url.path, errors=errors,
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_middleware(UnexpectedErrors)
