"""One service or the gateway under uvicorn, as `amber serve` runs it."""

from __future__ import annotations

import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

from servicekit.garbage_collection import settle_after_startup
from servicekit.outbox import WAKEUP

GRACEFUL_SHUTDOWN_SECONDS = 10


class _Server(uvicorn.Server):
    """Ends the outbox's long polls at the stop signal: uvicorn's graceful shutdown waits for open requests (up to
    its timeout) before the app's own shutdown could end them. Settles the garbage collector once the app has
    started (migrations run, routes built), before the first request."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        settle_after_startup()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        WAKEUP.stop()
        super().handle_exit(sig, frame)


def serve_app(application: FastAPI, host: str, port: int) -> None:
    config = uvicorn.Config(application, host=host, port=port, log_config=None,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    _Server(config).run()
