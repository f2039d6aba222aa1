#!/usr/bin/python3
"""Loopback stand-in for the Hugging Face hub, for tests/cli/test-pull.sh.

Serves the files of --files DIR as every repository test/<mode>, in the
hub's URL layout: GET /api/models/ORG/NAME/revision/REV (?blobs=true) lists
them with sizes, git blob ids and, for *.safetensors, LFS sha256; GET
/ORG/NAME/resolve/REV/PATH returns a file (LFS files through a 302 to
/cdn/SHA256, as the hub redirects to its CDN), honouring "Range: bytes=N-".
Modes: tiny (plain), tiny-interrupt (the first unranged download of each
LFS file is cut off half way), tiny-corrupt (one byte of each LFS file is
flipped), tiny-gated (401 without "Authorization: Bearer secret-token").
Each request is logged to --log as "METHOD PATH range=... auth=...".
"""
import argparse
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "secret-token"


def load_files(root):
    files = {}
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                files[name] = f.read()
    return files


class Hub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    files = {}
    log_path = None
    cut = set()  # LFS files already cut off once (tiny-interrupt)
    lock = threading.Lock()

    def log_message(self, fmt, *args):
        pass

    def note(self):
        with self.lock, open(self.log_path, "a") as f:
            f.write("%s %s range=%s auth=%s\n" % (
                self.command, self.path, self.headers.get("Range", "-"),
                "yes" if self.headers.get("Authorization") else "no"))

    def send(self, code, body, ctype="application/octet-stream", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def content(self, mode, name):
        data = self.files[name]
        if mode == "tiny-corrupt" and name.endswith(".safetensors"):
            b = bytearray(data)
            b[len(b) // 2] ^= 0x55
            data = bytes(b)
        return data

    @staticmethod
    def is_lfs(name):
        return name.endswith(".safetensors")

    def listing(self):
        sib = []
        for name, data in self.files.items():
            s = {"rfilename": name, "size": len(data),
                 "blobId": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
            if self.is_lfs(name):
                s["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(),
                            "size": len(data), "pointerSize": 134}
            sib.append(s)
        return json.dumps({"id": "test/tiny", "sha": COMMIT,
                           "siblings": sib}).encode()

    def serve_file(self, mode, name):
        data = self.content(mode, name)
        rng = self.headers.get("Range")
        start = 0
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                return self.send(416, b"", extra={
                    "Content-Range": "bytes */%d" % len(data)})
            return self.send(206, data[start:], extra={
                "Content-Range": "bytes %d-%d/%d" % (start, len(data) - 1,
                                                     len(data))})
        if mode == "tiny-interrupt" and self.is_lfs(name):
            with self.lock:
                first = name not in self.cut
                self.cut.add(name)
            if first:  # promise everything, send half, hang up
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
        self.send(200, data)

    def do_GET(self):
        self.note()
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if parts[:1] == ["cdn"] and len(parts) == 3:  # /cdn/MODE/NAME
            mode, name = parts[1], parts[2]
            if name in self.files:
                return self.serve_file(mode, name)
            return self.send(404, b"not found")
        mode = None
        if parts[:2] == ["api", "models"] and len(parts) == 6:
            mode = parts[3]
        elif len(parts) >= 5 and parts[2] == "resolve":
            mode = parts[1]
        if parts[0] not in ("api", "test") or mode not in (
                "tiny", "tiny-interrupt", "tiny-corrupt", "tiny-gated"):
            return self.send(404, b'{"error":"Repository not found"}',
                             "application/json")
        if mode == "tiny-gated" and \
                self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.send(401, b'{"error":"Access to this repo is restricted"}',
                             "application/json")
        if parts[0] == "api":
            return self.send(200, self.listing(), "application/json")
        name = "/".join(parts[4:])
        if name not in self.files:
            return self.send(404, b"Entry not found")
        if self.is_lfs(name):
            return self.send(302, b"", extra={
                "Location": "/cdn/%s/%s" % (mode, name)})
        return self.serve_file(mode, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    Hub.files = load_files(a.files)
    Hub.log_path = a.log
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    srv.daemon_threads = True
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
