"""A fake OpenAI-compatible model that streams: a real HTTP server on 127.0.0.1.

``POST /v1/chat/completions`` with ``stream: true`` answers ``text/event-stream``: one
``data: {choices: [{delta: {content}}]}`` event per piece of :attr:`Script.pieces`, ``gap``
seconds apart, then ``data: [DONE]``. Without ``stream`` it answers the whole text at once. The
script can wait before the first byte, pause after some pieces until :meth:`FakeModel.resume`,
or stamp each piece with the wall-clock time it was written (``stamp``, for the benchmark).

Used by the agent, real-time, API and web tests, the fault run and ``bench/streaming.py``; run
alone with ``python -m tests.fake_model --pieces 50 --gap 0.02`` (it prints its base URL).
May import the stdlib only.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """What the model answers. ``pause_after`` pieces, it waits for ``resume`` (or the end)."""

    pieces: list[str] = field(default_factory=lambda: ["Hello", ", ", "world", "."])
    gap: float = 0.0
    first_byte_delay: float = 0.0
    pause_after: int | None = None
    stamp: bool = False
    status: int = 200


def stamped(piece: str) -> str:
    """A piece that carries the time it was written, in nanoseconds since the epoch."""
    return f"<{time.time_ns()}>{piece}"


def stamp_of(chunk: str) -> int | None:
    """The write time of a :func:`stamped` piece; None for another."""
    if not chunk.startswith("<") or ">" not in chunk:
        return None
    try:
        return int(chunk[1 : chunk.index(">")])
    except ValueError:
        return None


def chunk_event(
    content: str | None = None, *, role: str | None = None, finish: str | None = None
) -> bytes:
    """One ``data:`` event of a streamed chat completion."""
    delta: dict[str, str] = {} if content is None else {"content": content}
    if role is not None:
        delta["role"] = role
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class FakeModel:
    """The server, its script, and what it was asked (``requests``: the JSON bodies)."""

    def __init__(self, script: Script | None = None, port: int = 0) -> None:
        self.script = script or Script()
        self.requests: list[dict[str, Any]] = []
        self.streams_done = 0
        self._resumed = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeModel:
        self._thread.start()
        return self

    def resume(self) -> None:
        """Lets paused streams go on."""
        self._resumed.set()

    def stop(self) -> None:
        self._closing.set()
        self._resumed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw or b"{}")
                with model._lock:
                    model.requests.append(body)
                script = model.script
                try:
                    model._wait(script.first_byte_delay)
                    if script.status != 200:
                        self._send(script.status, b'{"error": {"message": "model failed"}}')
                    elif body.get("stream"):
                        self._stream(script)
                    else:
                        message = {"role": "assistant", "content": "".join(script.pieces)}
                        answer = {"choices": [{"index": 0, "message": message}]}
                        self._send(200, json.dumps(answer).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up (a cancelled stream, a timeout)

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, script: Script) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(chunk_event(role="assistant"))
                self.wfile.flush()
                for index, piece in enumerate(script.pieces):
                    if script.pause_after is not None and index == script.pause_after:
                        while not model._resumed.wait(0.05):
                            if model._closing.is_set():
                                return
                    if index:
                        model._wait(script.gap)
                    if model._closing.is_set():
                        return
                    self.wfile.write(chunk_event(stamped(piece) if script.stamp else piece))
                    self.wfile.flush()
                self.wfile.write(chunk_event(None, finish="stop"))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True
                with model._lock:
                    model.streams_done += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pieces", type=int, default=20, help="pieces per reply")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between pieces")
    parser.add_argument("--first-byte-delay", type=float, default=0.0)
    parser.add_argument("--stamp", action="store_true", help="stamp each piece with its time")
    args = parser.parse_args()
    script = Script(
        pieces=[f"word{index} " for index in range(args.pieces)],
        gap=args.gap,
        first_byte_delay=args.first_byte_delay,
        stamp=args.stamp,
    )
    model = FakeModel(script, port=args.port).start()
    print(model.base_url, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    model.stop()


if __name__ == "__main__":
    main()
