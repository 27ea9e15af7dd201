"""A real HTTP server on 127.0.0.1 speaking just enough of the OpenAI API to stand in for a teacher.

GET /v1/models and POST /v1/chat/completions; any other POST is 404, as on a server that is not
vLLM. A script decides per request what to answer
(status, headers, body, delay) for fault injection; otherwise the default answers, by default
the scripted teacher's deterministic, schema-valid output (tests/fakes.py), so that whole jobs
can run against it quickly. Only for tests of failure handling and of the service's plumbing:
integration tests of generation use the real vLLM server.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from generator.teachers.base import ChatRequest, SamplingConfig
from generator.teachers.openai_http import PROBE_MESSAGES
from tests.fakes import ScriptedTeacher

Reply = tuple[int, dict[str, str], Any, float]  # status, headers, JSON body, delay before answering
Script = Callable[[dict[str, Any], int], Reply | None]  # (request body, attempt number from 1) -> reply

OK_TEXT = '{"answer": "fine"}'


def ok(text: str = OK_TEXT) -> Reply:
    body = {
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3},
    }
    return 200, {}, body, 0.0


class Stub:
    """A threaded HTTP server whose answers come from `script`; records every request."""

    def __init__(
        self,
        script: Script | None = None,
        probe: int = 200,
        default: Callable[[dict[str, Any]], Reply] | None = None,
        delay: float = 0.0,
    ):
        self.script = script
        self.probe = probe
        self.default = default or scripted
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.attempts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, headers: dict[str, str], body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self.reply(200, {}, {"data": [{"id": "stub-model", "root": "/models/stub"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self.path.endswith("/chat/completions"):  # e.g. /tokenize: a server without vLLM's extras
                    self.reply(404, {}, {"detail": "Not Found"})
                    return
                if body["messages"] == PROBE_MESSAGES:
                    self.reply(stub.probe, {}, ok("OK")[2] if stub.probe == 200 else {"error": "down"})
                    return
                key = body["messages"][-1]["content"]
                with stub.lock:
                    stub.bodies.append(body)
                    stub.headers.append(dict(self.headers))
                    stub.attempts[key] += 1
                    attempt = stub.attempts[key]
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    status, headers, payload, delay = (stub.script and stub.script(body, attempt)) or stub.default(body)
                    time.sleep(delay or stub.delay)
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client timed out
                        self.reply(status, headers, payload)
                finally:
                    with stub.lock:
                        stub.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def scripted(body: dict[str, Any]) -> Reply:
    """The scripted teacher's answer to this request, as the server would send it."""
    response_format = body.get("response_format") or {}
    request = ChatRequest(
        messages=body["messages"],
        sampling=SamplingConfig(temperature=body["temperature"], top_p=body["top_p"], max_tokens=body["max_tokens"]),
        seed=body.get("seed"),
        json_schema=(response_format.get("json_schema") or {}).get("schema"),
        choices=(body.get("structured_outputs") or {}).get("choice"),
    )
    completion = ScriptedTeacher().answer(request)
    return ok(completion.text)
