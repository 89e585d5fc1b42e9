"""A fake model for elizaOS runtimes under test: the two calls @elizaos/plugin-openai 1.6.0 makes,
``POST /v1/responses`` (the Responses API, streamed as ``response.output_text.delta`` events when
``stream`` is set) and ``POST /v1/embeddings``; point the plugin at it with ``OPENAI_BASE_URL``.

Its answers follow elizaOS's prompt templates, so an unmodified runtime acts on them:

- the should-respond prompt gets ``RESPOND``;
- the message-handler prompt (and any other) gets a ``REPLY`` whose text is
  ``"<agent name> heard you."``; a prompt containing ``[[ignore]]`` gets ``IGNORE`` and no text;
  one containing ``[[slow]]`` streams its pieces ``SLOW_PIECE_SECONDS`` apart.

``GET /stats`` counts the calls by path. Run alone: ``python -m tests.fake_responses_model
--port 8081``. (``tests/fake_model.py`` is the chat-completions one, for the Python
responders.) May import the stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMBEDDING_DIMENSIONS = 1536
PIECE_CHARS = 12
SLOW_PIECE_SECONDS = 0.4
_AGENT_NAME = re.compile(r"<task>Generate dialog and actions for the character (.+?)\.</task>")
_SHOULD_RESPOND = re.compile(r"<task>Decide on behalf of (.+?) whether")


def _prompt_text(body: dict[str, Any]) -> str:
    """Every text of the request's input, whatever shape the client gave it."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for key in ("content", "text", "input"):
                if key in value:
                    walk(value[key])

    walk(body.get("input"))
    walk(body.get("instructions"))
    return "\n".join(found)


def answer(prompt: str) -> str:
    """The model's whole answer to ``prompt``."""
    should = _SHOULD_RESPOND.search(prompt)
    if should:
        return (
            f"<response><name>{should.group(1)}</name><reasoning>Spoken to.</reasoning>"
            "<action>RESPOND</action></response>"
        )
    named = _AGENT_NAME.search(prompt)
    name = named.group(1) if named else "The agent"
    if "[[ignore]]" in prompt:
        return (
            "<response><thought>Not for me.</thought><actions>IGNORE</actions>"
            "<providers></providers><text></text></response>"
        )
    return (
        "<response><thought>A fake thought.</thought><actions>REPLY</actions>"
        f"<providers></providers><text>{name} heard you.</text></response>"
    )


def embedding(text: str) -> list[float]:
    """A fixed vector per text, so similar searches are stable between runs."""
    seed = hashlib.sha256(text.encode()).digest()
    return [((seed[i % len(seed)] + i) % 255) / 255.0 for i in range(EMBEDDING_DIMENSIONS)]


class FakeModel(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def count(self, path: str) -> None:
        with self._lock:
            self.calls[path] += 1

    def start(self) -> FakeModel:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about a client gone mid-stream (a runtime killed by a test); loud otherwise."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: FakeModel
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the calls from /stats."""

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/stats"):
            self._json(200, dict(self.server.calls))
        elif self.path.rstrip("/").endswith("/models"):
            # plugin-openai checks its key against the model list at start-up.
            self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request"}})
            return
        path = self.path.split("?")[0].rstrip("/")
        self.server.count(path)
        if path.endswith("/embeddings"):
            texts = body.get("input")
            texts = texts if isinstance(texts, list) else [texts or ""]
            data = [
                {"object": "embedding", "index": i, "embedding": embedding(str(text))}
                for i, text in enumerate(texts)
            ]
            usage = {"prompt_tokens": 1, "total_tokens": 1}
            self._json(200, {"object": "list", "data": data, "model": "fake", "usage": usage})
        elif path.endswith("/responses"):
            prompt = _prompt_text(body)
            text = answer(prompt)
            if body.get("stream"):
                self._stream(body, text, slow="[[slow]]" in prompt)
            else:
                self._json(200, _response(body, text))
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request"}})

    def _stream(self, body: dict[str, Any], text: str, slow: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        response_id, item_id = f"resp_{uuid.uuid4().hex}", f"msg_{uuid.uuid4().hex}"
        model = str(body.get("model") or "fake")
        created = {"id": response_id, "created_at": int(time.time()), "model": model}
        self._event({"type": "response.created", "response": created})
        item = {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress"}
        self._event({"type": "response.output_item.added", "output_index": 0, "item": item})
        for start in range(0, len(text), PIECE_CHARS):
            if slow:
                time.sleep(SLOW_PIECE_SECONDS)
            piece = text[start : start + PIECE_CHARS]
            self._event(
                {
                    "type": "response.output_text.delta",
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                }
            )
        self._event({"type": "response.output_item.done", "output_index": 0, "item": item})
        done = _response(body, text) | {"id": response_id}
        self._event({"type": "response.completed", "response": done})
        self.close_connection = True

    def _event(self, event: dict[str, Any]) -> None:
        self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
        self.wfile.flush()


def _response(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "model": str(body.get("model") or "fake"),
        "status": "completed",
        "incomplete_details": None,
        "output": [
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 1, "output_tokens": max(len(text) // 4, 1), "total_tokens": 2},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8081)
    port = parser.parse_args().port
    model = FakeModel(port)
    print(f"fake model on {model.url}", flush=True)
    model.serve_forever()


if __name__ == "__main__":
    main()
