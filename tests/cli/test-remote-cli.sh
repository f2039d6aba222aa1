#!/bin/sh
# vldoc --engine remote on real documents against the fault server: pages
# of many documents in flight under faults come back whole and in page
# order (the same output as one request at a time, files and stdout); the
# server sees each page exactly once with success; every page is sent at
# a size smart resize leaves alone, so a box over the whole image maps to
# the whole page; failures name file and page; the API key never shows.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
. "$VLDOC_SRCDIR/tests/cli/remote-lib.sh"
need_shared
need_remote
need_python
C="$VLDOC_SHARED/corpus"
P=/usr/bin/python3
start_fault_server
# two pages of each document keep the test quick; pages still interleave
R="--engine remote --endpoint $FAULT_URL/v1 --retry-wait 0.05 --pages 1-2"

# pages must render: until the rasterizer can, there is nothing to send
"$VLDOC" $R --retries 0 -f qwenvl --pages 1 "$C/layout/docling_multi_page.pdf" \
  >/dev/null 2>"$T_TMP/probe"
if grep -q "not supported\|cannot resize" "$T_TMP/probe"; then
  skip_all "page rendering is not built yet: $(head -1 "$T_TMP/probe")"
fi

# inputs: every format this build opens
mkdir -p "$T_TMP/in"
for f in layout/docling_multi_page.pdf scans/docling_nemotron_multipage.pdf \
  layout/samplefiles_multicolumn.pdf forms/funsd_82092117.png \
  invoices/docling_qr_bill_example.jpg; do
  if "$VLDOC" -q -f qwenvl -e text "$C/$f" >/dev/null 2>"$T_TMP/open.err" ||
    ! grep -q "not supported by this build" "$T_TMP/open.err"; then
    ln -s "$C/$f" "$T_TMP/in/$(basename "$f")"
  fi
done
for f in "$C"/tiff/*.tif*; do
  [ -f "$f" ] || continue
  "$VLDOC" -q -f qwenvl -e text "$f" >/dev/null 2>"$T_TMP/open.err"
  grep -q "not supported by this build" "$T_TMP/open.err" ||
    { ln -s "$f" "$T_TMP/in/$(basename "$f")"; break; }
done
n_in=$(ls "$T_TMP/in" | wc -l)
diag "inputs: $(ls "$T_TMP/in" | tr '\n' ' ')"

# 1. one request at a time, no faults: the reference
fault_ctl '{"reset": true, "mode": "ok"}'
"$VLDOC" $R -q --jobs 1 -f json -o "$T_TMP/one/" "$T_TMP/in" 2>"$T_TMP/err1"; rc=$?
[ $rc -eq 0 ]; ok $? "$n_in inputs, --jobs 1: all converted (rc $rc)"
$P -c 'import json, sys, urllib.request as u
s = json.load(u.urlopen(sys.argv[1] + "/stats"))
json.dump(s, open(sys.argv[2], "w"))' "$FAULT_URL" "$T_TMP/stats1.json"
npages=$($P -c 'import json, sys
print(len(json.load(open(sys.argv[1]))["requests"]))' "$T_TMP/stats1.json")
diag "pages: $npages"

# 2. many in flight under every fault: the same output, page by page
fault_ctl '{"reset": true, "mode": "mixed", "slow": 5.0, "retry_after": 1,
  "faults": ["slow", "drop", "429", "500", "truncated", "invalid"]}'
"$VLDOC" $R -q --jobs 8 --request-timeout 3 -f json -o "$T_TMP/many/" \
  --manifest "$T_TMP/m.jsonl" "$T_TMP/in" 2>"$T_TMP/err2"; rc=$?
[ $rc -eq 0 ]; ok $? "--jobs 8 under faults: all converted (rc $rc)"
[ $rc -eq 0 ] || diag "$(head -5 "$T_TMP/err2")"
same=0
for f in "$T_TMP"/one/*.json; do same_doc "$f" "$T_TMP/many/$(basename "$f")" || same=1; done
[ $same -eq 0 ]; ok $? "every document equals the one-at-a-time output (order kept)"
$P - "$FAULT_URL" "$npages" <<'EOF'
import json, sys, urllib.request as u
s = json.load(u.urlopen(sys.argv[1] + "/stats"))
req = s["requests"]
ok = all(sum(1 for t, o in v if o == "ok") == 1 for v in req.values())
faults = {v[0][1] for v in req.values()}
sys.exit(0 if ok and len(req) == int(sys.argv[2]) and not s["errors"]
         and {"slow", "drop", "429", "500", "truncated", "invalid"} <= faults
         else 1)
EOF
ok $? "the server answered each of the $npages pages once with success, all six faults injected"
$P - "$T_TMP/m.jsonl" "$npages" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if sum(r["pages"] for r in rows) == int(sys.argv[2])
         and sum(r["attempts"] for r in rows) >= 2 * int(sys.argv[2]) - 1
         and all(r["prompt_tokens"] > 0 and r["engine"] == "remote" for r in rows)
         else 1)
EOF
ok $? "the manifest records pages, attempts and token usage"

# 3. stdout keeps input order while pages interleave
fault_ctl '{"reset": true, "mode": "ok"}'
"$VLDOC" $R -q --jobs 1 -f md "$T_TMP"/in/* >"$T_TMP/one.md" 2>/dev/null
# (the slow fault, which costs a whole request timeout, once is enough)
FAST='"faults": ["drop", "429", "500", "truncated", "invalid"]'
fault_ctl "{\"reset\": true, \"mode\": \"mixed\", \"retry_after\": 1, $FAST}"
"$VLDOC" $R -q --jobs 8 --request-timeout 3 -f md "$T_TMP"/in/* >"$T_TMP/many.md" 2>"$T_TMP/err3"; rc=$?
[ $rc -eq 0 ] && [ -s "$T_TMP/one.md" ] && cmp -s "$T_TMP/one.md" "$T_TMP/many.md"
ok $? "Markdown on stdout: the same bytes in the same order (rc $rc)"

# 4. sizes: multiples of 28, inside the pixel budget, fixed by smart
# resize; the whole-image box maps to the whole page
$P - "$FAULT_URL" <<'EOF'
import json, sys, urllib.request as u
s = json.load(u.urlopen(sys.argv[1] + "/stats"))
for key in s["requests"]:
    w, h = map(int, key.split("-")[0].split("x"))
    if w % 28 or h % 28 or not (1024 * 784 <= w * h <= 2048 * 784):
        print("# bad size", key); sys.exit(1)
EOF
ok $? "every page went at multiples of 28 inside the default pixel budget"
pdfinfo -f 1 -l 2 "$T_TMP/in/docling_multi_page.pdf" 2>/dev/null |
  sed -n 's/^Page *[0-9]* size: *\([0-9.]*\) x \([0-9.]*\) pts.*/\1 \2/p' >"$T_TMP/sizes"
$P - "$T_TMP/many/docling_multi_page.json" "$T_TMP/sizes" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
sizes = [tuple(map(float, l.split())) for l in open(sys.argv[2])]
assert sizes and len(sizes) == len(d["pages"]), (sizes, len(d["pages"]))
for p, (w, h) in zip(d["pages"], sizes):
    b = p["blocks"][0]
    # the reply boxes the whole image it got; on the page that is the
    # whole page, in PDF points
    assert b["bbox_model"][:2] == [0, 0], b
    assert all(abs(a - e) < 0.01 for a, e in zip(b["bbox"], (0, 0, w, h))), (b, w, h)
EOF
ok $? "a box over the whole image maps to the whole page"

# 5. failures: named, the batch goes on, the document marks its pages
fault_ctl '{"reset": true, "mode": "bad400"}'
"$VLDOC" $R -q --jobs 4 -f json -o "$T_TMP/bad/" "$T_TMP/in" 2>"$T_TMP/err5"; rc=$?
[ $rc -eq 1 ]; ok $? "all pages refused: exit 1 (rc $rc)"
grep -q "docling_multi_page.pdf: page 2: remote: HTTP 400: max_tokens too large" "$T_TMP/err5"
ok $? "each failure names file, page and the server's message"
n=$(ls "$T_TMP/bad" | wc -l)
[ "$n" -eq "$n_in" ] && grep -q '"error":' "$T_TMP/bad/docling_multi_page.json"
ok $? "documents are still written, failed pages marked ($n of $n_in)"

# 6. the API key goes to the server and nowhere else
fault_ctl '{"reset": true, "mode": "ok"}'
VLDOC_API_KEY=sk-test-123 "$VLDOC" $R -v --jobs 2 -f md -o "$T_TMP/key/" \
  "$T_TMP/in/docling_multi_page.pdf" >"$T_TMP/key.out" 2>&1
! grep -q "sk-test-123" "$T_TMP/key.out"; ok $? "the key is not printed, even with -v"
$P -c 'import json, sys, urllib.request as u
s = json.load(u.urlopen(sys.argv[1] + "/stats"))
sys.exit(0 if s["auth"] and all(a == "Bearer sk-test-123" for a in s["auth"]) else 1)' "$FAULT_URL"
ok $? "the key is sent as a Bearer token"
grep -q "prompt + 17 generated tokens" "$T_TMP/key.out"; ok $? "-v shows token usage per page"

# 7. streaming gives the same documents
fault_ctl "{\"reset\": true, \"mode\": \"mixed\", \"retry_after\": 1, $FAST}"
"$VLDOC" $R -q --stream --jobs 8 --request-timeout 3 -f json -o "$T_TMP/sse/" "$T_TMP/in" 2>/dev/null; rc=$?
same=0
for f in "$T_TMP"/one/*.json; do same_doc "$f" "$T_TMP/sse/$(basename "$f")" || same=1; done
[ $rc -eq 0 ] && [ $same -eq 0 ]; ok $? "--stream under faults: the same documents (rc $rc)"

# 8. SIGINT with pages in flight: out promptly, nothing half-written
# (replies would take 30 s: an exit well before that did not wait for them)
fault_ctl '{"reset": true, "mode": "ok", "delay": 30}'
"$VLDOC" $R -q --jobs 8 -f json -o "$T_TMP/int/" "$T_TMP/in" 2>/dev/null &
pid=$!
sleep 0.5
t0=$(date +%s)
kill -INT $pid; wait $pid; rc=$?
t1=$(date +%s)
[ $rc -eq 130 ] && [ $((t1 - t0)) -le 10 ]
ok $? "SIGINT: exit 130 in $((t1 - t0)) s, without waiting for the replies (rc $rc)"
[ -z "$(ls -A "$T_TMP/int" 2>/dev/null)" ]; ok $? "SIGINT: no output, no temp file"
fault_ctl '{"delay": 0}'
done_testing
