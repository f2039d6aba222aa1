#!/usr/bin/python3
"""A bounded load client for `vldoc serve` (standard library only).

  load-client.py URL BODY-FILE CONTENT-TYPE EXPECTED-FILE N CONCURRENCY

Sends N POSTs of BODY-FILE to URL from CONCURRENCY threads, each on its
own keep-alive connection, and prints one JSON object: counts by status,
bodies that differ from EXPECTED-FILE, 503s without Retry-After or
without a JSON error, connection errors, wall seconds and requests/s.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse


def main():
    url, body_file, ctype, expected_file, n, conc = sys.argv[1:7]
    n, conc = int(n), int(conc)
    body = open(body_file, "rb").read()
    expected = open(expected_file, "rb").read()
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    lock = threading.Lock()
    out = {"n": n, "concurrency": conc, "status": {}, "mismatch": 0,
           "bad_503": 0, "conn_errors": 0, "latency_max": 0.0}
    next_i = [0]

    def worker():
        c = None
        while True:
            with lock:
                if next_i[0] >= n:
                    break
                next_i[0] += 1
            t0 = time.time()
            try:
                if c is None:
                    c = http.client.HTTPConnection(u.hostname, u.port,
                                                   timeout=120)
                c.request("POST", path, body=body,
                          headers={"Content-Type": ctype})
                r = c.getresponse()
                data = r.read()
                status = r.status
                retry = r.getheader("Retry-After")
                if r.getheader("Connection", "").lower() == "close":
                    c.close()
                    c = None
            except Exception:
                with lock:
                    out["conn_errors"] += 1
                if c:
                    c.close()
                c = None
                continue
            dt = time.time() - t0
            with lock:
                out["status"][str(status)] = out["status"].get(str(status), 0) + 1
                out["latency_max"] = max(out["latency_max"], dt)
                if status == 200 and data != expected:
                    out["mismatch"] += 1
                if status == 503:
                    try:
                        ok = json.loads(data)["error"]["code"] == 503
                    except Exception:
                        ok = False
                    if not ok or not retry or not retry.isdigit():
                        out["bad_503"] += 1
        if c:
            c.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["seconds"] = round(time.time() - t0, 3)
    out["rps"] = round(n / out["seconds"], 1) if out["seconds"] > 0 else 0
    out["latency_max"] = round(out["latency_max"], 3)
    print(json.dumps(out, sort_keys=True))


main()
