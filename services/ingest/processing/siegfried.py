"""Siegfried (pygfried) in a process of its own.

pygfried's Go code holds the GIL for the whole of a call: 12 s for a 2 GB file of random bytes here, about a
minute for 10 GB. In the worker that froze every thread and the event loop with it (no heartbeats, no workflow
tasks), so the batch timed out on every attempt and the ingest failed. From a child process the answer is the same,
the worker's threads and event loop run on meanwhile, and a call that never ends can be ended.

Protocol, one JSON object per line: `{"files": [...], "many": bool}` on the child's stdin; `{"result": …}` (what
pygfried returned) or `{"error": "…"}` on its stdout. The child ends when its stdin closes (its worker has gone).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from typing import IO, Any

# Siegfried reads a file's beginning and end, and sometimes all of it: minutes for the largest files.
TIMEOUT = 600.0


class SiegfriedError(Exception):
    """Siegfried refused a file or group (its GoError), gave no answer in time, or its process died."""


def serve(requests: IO[str], answers: IO[str]) -> None:
    """The child's loop: answer each request with what pygfried returns for it, or the error it raised."""
    import pygfried

    for line in requests:
        request = json.loads(line)
        answer: dict[str, Any]
        try:
            if request["many"]:
                answer = {"result": pygfried.identify_many(request["files"], workers=1)}
            else:
                answer = {"result": pygfried.identify(request["files"][0], detailed=True)}
        except Exception as exc:
            # The message alone, as the in-process call's exception carried it (a file's warning quotes it).
            answer = {"error": str(exc)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


class SiegfriedProcess:
    """One child answering one call at a time (pygfried serialized the worker's threads anyway, through the GIL);
    started on first use, started again if it died or was ended for taking longer than `timeout`."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def identify(self, name: str) -> dict[str, Any]:
        return self._ask({"files": [name], "many": False})

    def identify_many(self, names: list[str]) -> dict[str, Any]:
        return self._ask({"files": names, "many": True})

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        line = json.dumps(request) + "\n"
        with self._lock:
            for attempt in (1, 2):
                reply, expired = self._exchange(self._started(), line)
                if reply:
                    answer = json.loads(reply)
                    if "error" in answer:
                        raise SiegfriedError(answer["error"])
                    return dict(answer["result"])
                self._end()
                if expired:
                    # Not tried again: the same files would take as long.
                    raise SiegfriedError(f"Siegfried gave no answer in {self.timeout:g} s")
                if attempt == 2:
                    raise SiegfriedError("Siegfried's process died")
        raise AssertionError("unreachable")

    def _exchange(self, process: subprocess.Popen[str], line: str) -> tuple[str, bool]:
        """The child's answer to `line` ("" if it died or was ended), and whether the watchdog ended it."""
        assert process.stdin is not None and process.stdout is not None
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            process.kill()

        # The watchdog ends a call that takes too long: the read then ends too.
        watchdog = threading.Timer(self.timeout, expire)
        watchdog.start()
        try:
            process.stdin.write(line)
            process.stdin.flush()
            return process.stdout.readline(), expired.is_set()
        except OSError:
            return "", expired.is_set()
        finally:
            watchdog.cancel()

    def _started(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._end()
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True, encoding="utf-8", errors="surrogateescape",
            )
        return self._process

    def _end(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()

    def close(self) -> None:
        with self._lock:
            self._end()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
