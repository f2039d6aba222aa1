#!/usr/bin/python3
"""A fake OpenAI-compatible chat-completions server that injects faults,
for the remote engine's tests. Runs on 127.0.0.1, on a free port written
to PORT_FILE. Standard library only (Debian's /usr/bin/python3).

Each page is known by its image: "WxH-HASH", the size (read from the PNG
or JPEG header inside the data URL) and the start of the SHA-1 of its
bytes. The reply names the page and boxes the whole image:
<p data-bbox="0 0 W H">page WxH-HASH</p>.

Modes (POST /control {"mode": M, ...}; GET /stats for what happened):
  ok        every request succeeds
  mixed     a page's first request fails in one of six ways, in turn as
            pages arrive (slow, drop, 429 with Retry-After, 500, truncated
            body, invalid JSON, or the list given as "faults"); its second
            succeeds
  fail      every request for the pages whose key starts with one of
            "fail" answers 500; others ok
  bad400    every request answers 400 (not retried)
  length    replies end with finish_reason "length"
  resized   usage.prompt_tokens smaller than the image's tokens
  auth      401 unless the Authorization header is "Bearer good-key"
"""
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ["slow", "drop", "429", "500", "truncated", "invalid"]

lock = threading.Lock()
state = {
    "mode": "ok",
    "fail": [],  # page keys that always fail in mode "fail"
    "slow": 3.0,  # seconds a slow reply takes
    "retry_after": 1,
    "delay": 0.0,  # every reply waits this long (throughput tests)
    "requests": {},  # key -> list of [time, outcome]
    "auth": [],  # Authorization headers seen
    "bodies": 0,
    "max_inflight": 0,
    "inflight": 0,
    "errors": [],  # malformed requests
    "faults": FAULTS,  # the faults "mixed" cycles through
    "firsts": 0,
    "aborted": 0,  # uploads the client broke off
    "prompts": [],  # [system or None, user text, max_tokens] per request  # pages seen so far (mixed: picks each page's fault)
}


def image_size(data):
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            m = data[i + 1]
            if m in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            ln = struct.unpack(">H", data[i + 2:i + 4])[0]
            i += 2 + ln
    return None


def check_request(req):
    """The request must be what the remote engine documents."""
    assert isinstance(req.get("model"), str) and req["model"], "model"
    assert req.get("temperature") == 0 or "temperature" in req, "temperature"
    assert isinstance(req.get("max_tokens"), int), "max_tokens"
    msgs = req["messages"]
    user = [m for m in msgs if m["role"] == "user"]
    assert len(user) == 1, "one user message"
    parts = user[0]["content"]
    assert parts[0]["type"] == "text" and parts[0]["text"], "text first"
    assert parts[1]["type"] == "image_url", "then the image"
    url = parts[1]["image_url"]["url"]
    head, b64 = url.split(",", 1)
    assert head in ("data:image/png;base64", "data:image/jpeg;base64"), head
    data = base64.b64decode(b64, validate=True)
    size = image_size(data)
    assert size, "image header"
    return size, head.split(";")[0][5:], parts[0]["text"], data


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are part of the test


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/models":
            self.send_json(200, {"object": "list",
                                 "data": [{"id": "fake-qwen", "object": "model"}]})
        elif self.path == "/stats":
            with lock:
                out = {k: state[k] for k in ("requests", "auth", "bodies",
                                             "max_inflight", "errors",
                                             "aborted", "prompts")}
            self.send_json(200, out)
        else:
            self.send_json(404, {"error": {"message": "no such path"}})

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n)

    def do_POST(self):
        if self.path == "/control":
            ctl = json.loads(self.read_body())
            with lock:
                state.update(ctl)
                if ctl.get("reset"):
                    state["requests"] = {}
                    state["auth"] = []
                    state["errors"] = []
                    state["bodies"] = 0
                    state["max_inflight"] = 0
                    state["firsts"] = 0
                    state["aborted"] = 0
                    state["prompts"] = []
            self.send_json(200, {"ok": True})
            return
        if self.path != "/v1/chat/completions":
            self.send_json(404, {"error": {"message": "no such path"}})
            return
        raw = self.read_body()
        if len(raw) < int(self.headers.get("Content-Length", "0")):
            with lock:  # the client gave up mid-upload (its timeout)
                state["aborted"] += 1
            self.close_connection = True
            return
        try:
            req = json.loads(raw)
            (w, h), mime, prompt, data = check_request(req)
        except Exception as e:  # a malformed request is a test failure
            with lock:
                state["errors"].append(repr(e))
            self.send_json(400, {"error": {"message": "bad request: %r" % e}})
            return
        key = "%dx%d-%s" % (w, h, hashlib.sha1(data).hexdigest()[:10])
        system = [m["content"] for m in req["messages"] if m["role"] == "system"]
        with lock:
            state["prompts"].append([system[0] if system else None, prompt,
                                     req["max_tokens"]])
            if key not in state["requests"]:
                state["firsts"] += 1
            first = state["firsts"]
            state["bodies"] += 1
            state["auth"].append(self.headers.get("Authorization", ""))
            attempts = state["requests"].setdefault(key, [])
            n = len(attempts)
            mode = state["mode"]
            state["inflight"] += 1
            state["max_inflight"] = max(state["max_inflight"],
                                        state["inflight"])
            delay = state["delay"]
        outcome = "ok"
        if mode == "mixed" and n == 0:
            faults = state["faults"]
            outcome = faults[(first - 1) % len(faults)]
        elif mode == "fail" and any(key.startswith(f) for f in state["fail"]):
            outcome = "500"
        elif mode == "bad400":
            outcome = "400"
        elif mode == "auth" and self.headers.get("Authorization") != \
                "Bearer good-key":
            outcome = "401"
        with lock:
            attempts.append([time.time(), outcome])
        try:
            if delay:
                time.sleep(delay)
            self.reply(outcome, key, w, h, mode, req)
        finally:
            with lock:
                state["inflight"] -= 1

    def reply(self, outcome, key, w, h, mode, req):
        content = '<html><body>\n<p data-bbox="0 0 %d %d">page %s</p>\n' \
                  '</body></html>' % (w, h, key)
        image_tokens = (w // 28) * (h // 28)
        usage = {"prompt_tokens": image_tokens + 20, "completion_tokens": 17,
                 "total_tokens": image_tokens + 37}
        if mode == "resized":
            usage["prompt_tokens"] = image_tokens // 4
        finish = "length" if mode == "length" else "stop"
        if outcome == "slow":
            time.sleep(state["slow"])
            outcome = "ok"
        if outcome == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if outcome == "429":
            self.send_json(429, {"error": {"message": "rate limited"}},
                           {"Retry-After": str(state["retry_after"])})
            return
        if outcome == "500":
            self.send_json(500, {"error": {"message": "GPU fell over"}})
            return
        if outcome == "401":
            self.send_json(401, {"error": {"message": "invalid api key"}})
            return
        if outcome == "400":
            self.send_json(400, {"error": {"message": "max_tokens too large"}})
            return
        body_obj = {"id": "x", "object": "chat.completion", "model": "fake-qwen",
                    "choices": [{"index": 0, "finish_reason": finish,
                                 "message": {"role": "assistant",
                                             "content": content}}],
                    "usage": usage}
        if outcome == "invalid":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"{not json")
            return
        if req.get("stream"):
            self.stream(content, finish, usage, outcome == "truncated")
            return
        body = json.dumps(body_obj).encode()
        if outcome == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, content, finish, usage, truncated):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        pieces = [content[i:i + 7] for i in range(0, len(content), 7)]
        if truncated:
            pieces = pieces[:len(pieces) // 2]
        for p in pieces:
            ev = {"choices": [{"index": 0, "delta": {"content": p},
                               "finish_reason": None}]}
            self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\n")
        if not truncated:
            ev = {"choices": [{"index": 0, "delta": {},
                               "finish_reason": finish}]}
            self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\n")
            ev = {"choices": [], "usage": usage}
            self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def main():
    port_file = sys.argv[1]
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
