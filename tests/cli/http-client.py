#!/usr/bin/python3
"""HTTP client for the serve tests (standard library only).

  http-client.py METHOD URL OUT [BODY-FILE|-] [HEADER: VALUE]...

Prints the status code; writes the body to OUT and the response headers
to OUT.hdr (one "name: value" per line, names lowercase). A connection
error prints 000 and its reason to stderr.
"""
import http.client
import sys
import urllib.parse


def main():
    method, url, out = sys.argv[1:4]
    body = None
    if len(sys.argv) > 4 and sys.argv[4] != "-":
        with open(sys.argv[4], "rb") as f:
            body = f.read()
    headers = {}
    for h in sys.argv[5:]:
        k, v = h.split(":", 1)
        headers[k.strip()] = v.strip()
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    path = u.path + ("?" + u.query if u.query else "")
    try:
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
    except Exception as e:  # reported, not raised: the test decides
        print("000")
        print("http-client.py: %r" % e, file=sys.stderr)
        return
    with open(out, "wb") as f:
        f.write(data)
    with open(out + ".hdr", "w") as f:
        for k, v in r.getheaders():
            f.write("%s: %s\n" % (k.lower(), v))
    print(r.status)


main()
