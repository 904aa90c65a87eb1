"""An unhandled error is answered as a 500 problem and leaves the connection usable.

The gateway keeps pooled connections to each service: a service that closed its end after a 500 made the gateway's
next request on that connection fail, proxied as a 502 for an operation that had done nothing wrong (found by
fuzzing: a huge `offset` on one operation, then a 502 on the next).
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from servicekit.problems import install_problem_handlers
from tests.conftest import serve_http


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    @app.get("/fine")
    async def fine() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> tuple[bytes, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: service\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(
        b"content-length:"))
    return head, await reader.readexactly(length)


async def test_a_500_keeps_the_connection_open_for_the_next_request() -> None:
    async with serve_http(_app()) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
        try:
            head, body = await _exchange(reader, writer, "/boom")
            assert head.startswith(b"HTTP/1.1 500")
            assert b"application/problem+json" in head
            assert b'"detail":"OverflowError"' in body
            await asyncio.sleep(0.2)  # the server closed its end here, after the answer
            head, body = await _exchange(reader, writer, "/fine")
            assert head.startswith(b"HTTP/1.1 200"), head
            assert body == b'{"status":"ok"}'
        finally:
            writer.close()
