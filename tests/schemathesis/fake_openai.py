"""A stand-in OpenAI-compatible generation backend for the Schemathesis run: a real HTTP server
that answers every chat completion at once (JSON, or SSE with `stream: true`) and lists one
model. ragway forwards what it is sent; this server does not judge it.

    python fake_openai.py PORT     serve on 127.0.0.1:PORT until SIGTERM
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "fake-model"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "fake"}]})
        else:
            self.send_json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            request = {}
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})
            return
        n = request.get("n") or 1
        created = int(time.time())
        if request.get("stream"):
            self.stream(n, created)
            return
        choices = [{"index": i, "message": {"role": "assistant", "content": "A fake answer."}, "finish_reason": "stop"} for i in range(n)]
        self.send_json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": MODEL,
            "choices": choices, "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
        })

    def stream(self, n, created):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i in range(n):
            for delta, finish in [({"role": "assistant", "content": "A fake answer."}, None), ({}, "stop")]:
                chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": MODEL,
                         "choices": [{"index": i, "delta": delta, "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
