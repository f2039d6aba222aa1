#!/bin/sh
# vldoc serve: the endpoints, the same output as the CLI for /v1/convert,
# clear 4xx JSON errors for bad requests (malformed JSON, wrong content
# types, oversized bodies, bad images), the per-request time limit, and a
# clean shutdown on SIGTERM that answers every request it had.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
. "$VLDOC_SRCDIR/tests/cli/remote-lib.sh"
need_shared
need_serve
need_python
C="$VLDOC_SHARED/corpus"
PDF="$C/layout/samplefiles_multicolumn.pdf"
MULTI="$C/layout/docling_multi_page.pdf"
PNG="$C/forms/funsd_82092117.png"
H="/usr/bin/python3 $VLDOC_SRCDIR/tests/cli/http-client.py"
export TMPDIR="$T_TMP"

# req NAME METHOD PATH [BODY [HEADER...]]: status to stdout, body in $T_TMP/NAME
req() {
  n=$1 m=$2 p=$3; shift 3
  $H "$m" "$SERVE_URL$p" "$T_TMP/$n" "$@"
}
# is_error NAME TEXT: an OpenAI-style JSON error whose message has TEXT
is_error() {
  /usr/bin/python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))["error"]
sys.exit(0 if sys.argv[2] in e["message"] and e["code"] >= 400 else 1)' \
    "$T_TMP/$1" "$2" 2>/dev/null
}
# chat NAME JSON: POST JSON to /v1/chat/completions
chat() {
  printf '%s' "$2" >"$T_TMP/$1.in"
  req "$1" POST /v1/chat/completions "$T_TMP/$1.in" \
    "Content-Type: application/json"
}
# a chat body with the image as a data URL (MIME, FILE)
chat_body() {
  /usr/bin/python3 -c 'import base64, json, sys
url = "data:%s;base64,%s" % (sys.argv[1],
                             base64.b64encode(open(sys.argv[2], "rb").read()).decode())
print(json.dumps({"model": "vldoc", "max_tokens": 64, "temperature": 0,
  "messages": [{"role": "user", "content": [{"type": "text", "text": "QwenVL HTML"},
    {"type": "image_url", "image_url": {"url": url}}]}]}))' "$1" "$2"
}

start_serve "$T_TMP/serve.log" -e text --queue 4 --max-body-mb 1 --timeout 30 ||
  skip_all "vldoc serve did not start: $(cat "$T_TMP/serve.log")"

s=$(req health GET /health); [ "$s" = 200 ] && contains "$T_TMP/health" '"status":"ok"'
ok $? "GET /health: 200, status ok ($s)"
s=$(req models GET /v1/models)
[ "$s" = 200 ] && contains "$T_TMP/models" '"id":"vldoc"'; ok $? "GET /v1/models lists the model"
grep -q '127.0.0.1' "$T_TMP/serve.log"; ok $? "binds to 127.0.0.1 by default"

# /v1/convert gives exactly what the CLI gives
"$VLDOC" -q -f md "$PDF" >"$T_TMP/cli.md"
s=$(req conv.md POST "/v1/convert?format=md" "$PDF" "Content-Type: application/pdf")
[ "$s" = 200 ] && cmp -s "$T_TMP/conv.md" "$T_TMP/cli.md"; ok $? "POST /v1/convert?format=md equals vldoc -f md ($s)"
grep -qi '^content-type: text/markdown' "$T_TMP/conv.md.hdr"; ok $? "Markdown comes as text/markdown"
"$VLDOC" -q -f json --pages 2 "$MULTI" >"$T_TMP/cli.json"
s=$(req conv.json POST "/v1/convert?pages=2" "$MULTI" "Content-Type: application/octet-stream")
/usr/bin/python3 - "$T_TMP/conv.json" "$T_TMP/cli.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
a["source"] = b["source"] = ""
sys.exit(0 if a == b and [p["page"] for p in a["pages"]] == [2] else 1)
EOF
ok $? "POST /v1/convert?pages=2 (JSON, the default) equals vldoc -f json --pages 2 ($s)"
grep -qi '^x-vldoc-failed-pages: 0' "$T_TMP/conv.json.hdr"; ok $? "X-Vldoc-Failed-Pages reported"

# bad requests: a clear JSON error each, never a crash
s=$(req e1 POST /v1/convert "$PDF" "Content-Type: application/json")
[ "$s" = 415 ] && is_error e1 "Content-Type"; ok $? "convert with a JSON content type: 415 ($s)"
: >"$T_TMP/empty"
s=$(req e2 POST /v1/convert "$T_TMP/empty" "Content-Type: application/pdf")
[ "$s" = 400 ] && is_error e2 "empty"; ok $? "empty body: 400 ($s)"
s=$(req e3 POST "/v1/convert?format=docx" "$PDF" "Content-Type: application/pdf")
[ "$s" = 400 ] && is_error e3 "unknown format"; ok $? "unknown format: 400 ($s)"
printf 'this is not a document' >"$T_TMP/junk"
s=$(req e4 POST /v1/convert "$T_TMP/junk" "Content-Type: application/pdf")
[ "$s" = 422 ] && is_error e4 "not a PDF, TIFF, PNG or JPEG"; ok $? "a body that is no document: 422 ($s)"
head -c 1500000 /dev/zero >"$T_TMP/big"
s=$(req e5 POST /v1/convert "$T_TMP/big" "Content-Type: application/pdf")
[ "$s" = 413 ] && is_error e5 "over the limit"; ok $? "a body over --max-body-mb: 413 ($s)"
s=$(req e6 GET /v1/convert); [ "$s" = 405 ]; ok $? "GET /v1/convert: 405 ($s)"
s=$(req e7 GET /v2/nothing); [ "$s" = 404 ] && is_error e7 "no such endpoint"; ok $? "unknown path: 404 ($s)"
s=$(req e8 POST "/v1/convert?pages=9-1" "$PDF" "Content-Type: application/pdf")
[ "$s" = 400 ] && is_error e8 "page range"; ok $? "bad pages: 400 ($s)"

s=$(chat c1 '{"messages": [')
[ "$s" = 400 ] && is_error c1 "not valid JSON"; ok $? "chat: truncated JSON: 400 ($s)"
s=$(chat c2 '[1, 2]'); [ "$s" = 400 ] && is_error c2 "JSON object"; ok $? "chat: not an object: 400 ($s)"
printf '{}' >"$T_TMP/c3.in"
s=$(req c3 POST /v1/chat/completions "$T_TMP/c3.in" "Content-Type: text/plain")
[ "$s" = 415 ] && is_error c3 "application/json"; ok $? "chat: wrong content type: 415 ($s)"
s=$(chat c4 '{"messages": [{"role": "user", "content": "hello"}]}')
[ "$s" = 400 ] && is_error c4 "no image"; ok $? "chat: no image: 400 ($s)"
s=$(chat c5 '{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}]}')
[ "$s" = 400 ] && is_error c5 "only data: URLs"; ok $? "chat: a URL to fetch is refused: 400 ($s)"
s=$(chat c6 '{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@@"}}]}]}')
[ "$s" = 400 ] && is_error c6 "base64"; ok $? "chat: bad base64: 400 ($s)"
s=$(chat c7 '{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}}]}]}')
[ "$s" = 415 ] && is_error c7 "PNG, JPEG or TIFF"; ok $? "chat: a GIF: 415 ($s)"
chat_body image/png "$PNG" >"$T_TMP/good.json"
sed 's/"model": "vldoc"/"model": "gpt-4o"/' "$T_TMP/good.json" >"$T_TMP/c8.in"
s=$(req c8 POST /v1/chat/completions "$T_TMP/c8.in" "Content-Type: application/json")
[ "$s" = 404 ] && is_error c8 "not served here"; ok $? "chat: another model: 404 ($s)"
sed 's/"temperature": 0/"temperature": 0, "n": 2/' "$T_TMP/good.json" >"$T_TMP/c9.in"
s=$(req c9 POST /v1/chat/completions "$T_TMP/c9.in" "Content-Type: application/json")
[ "$s" = 400 ] && is_error c9 "n must be 1"; ok $? "chat: n > 1 refused clearly: 400 ($s)"
sed 's/"max_tokens": 64/"max_tokens": -3/' "$T_TMP/good.json" >"$T_TMP/c10.in"
s=$(req c10 POST /v1/chat/completions "$T_TMP/c10.in" "Content-Type: application/json")
[ "$s" = 400 ] && is_error c10 "max_tokens"; ok $? "chat: bad max_tokens: 400 ($s)"
s=$(chat c11 '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}')
[ "$s" = 400 ] && is_error c11 "conversations"; ok $? "chat: multi-turn refused: 400 ($s)"
# a good request on a server without a vision model: a clear error
s=$(req c12 POST /v1/chat/completions "$T_TMP/good.json" "Content-Type: application/json")
{ [ "$s" = 501 ] && is_error c12 "vision model"; } ||
  { [ "$s" = 415 ] && is_error c12 "not supported by this build"; }
ok $? "chat on a text-only server: a clear error ($s)"
# oversized image in the data URL: the body limit answers first
/usr/bin/python3 -c 'import base64, json
print(json.dumps({"messages": [{"role": "user", "content": [{"type": "image_url",
  "image_url": {"url": "data:image/png;base64," + "A" * 1500000}}]}]}))' >"$T_TMP/c13.in"
s=$(req c13 POST /v1/chat/completions "$T_TMP/c13.in" "Content-Type: application/json")
[ "$s" = 413 ] && is_error c13 "over the limit"; ok $? "chat: oversized image: 413 ($s)"

s=$(req health2 GET /health)
[ "$s" = 200 ]; ok $? "still healthy after the bad requests"
ls "$T_TMP" | grep -q '^vldoc-serve-'; [ $? -ne 0 ]; ok $? "no uploaded temp files left behind"

# per-request time limit: a long document is cut off with 504
R="$C/layout/docling_redp5110_sampled.pdf"
pdfunite "$R" "$R" "$R" "$R" "$R" "$R" "$R" "$R" "$T_TMP/long.pdf" 2>/dev/null ||
  cp "$R" "$T_TMP/long.pdf"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; rc=$?
[ $rc -eq 0 ]; ok $? "SIGTERM: exits 0 (rc $rc)"
grep -q "stopping" "$T_TMP/serve.log"; ok $? "SIGTERM: says it is stopping"
! grep -q "Sanitizer" "$T_TMP/serve.log"; ok $? "no sanitizer report (leaks, memory errors)"

start_serve "$T_TMP/serve2.log" -e text --timeout 0.2
s=$(req t1 POST "/v1/convert?format=md" "$T_TMP/long.pdf" "Content-Type: application/pdf")
[ "$s" = 504 ] && is_error t1 "longer than 0.2 s"; ok $? "--timeout: a long request gets 504 ($s)"
s=$(req t2 POST "/v1/convert?format=md" "$PDF" "Content-Type: application/pdf")
[ "$s" = 200 ]; ok $? "the server goes on after a timeout ($s)"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; rc=$?
[ $rc -eq 0 ] && ! grep -q "Sanitizer" "$T_TMP/serve2.log"; ok $? "clean exit after a timed-out request (rc $rc)"

# shutdown with work in hand: the running request finishes (grace), the
# queued ones are refused with 503; every client gets an answer
# the running request must outlast the queueing and the health polls: the
# 144-page document takes 0.3 s on a quiet machine, so 8 of them in one
L=$T_TMP/long.pdf
pdfunite "$L" "$L" "$L" "$L" "$L" "$L" "$L" "$L" "$T_TMP/longer.pdf" 2>/dev/null ||
  cp "$L" "$T_TMP/longer.pdf"
start_serve "$T_TMP/serve3.log" -e text --queue 8 --shutdown-grace 60
for i in 1 2 3; do
  req "s$i" POST "/v1/convert?format=md" "$T_TMP/longer.pdf" "Content-Type: application/pdf" >"$T_TMP/s$i.code" &
  eval "cp$i=\$!"
  sleep 0.1
done
i=0
until grep -q '"queued":2' "$T_TMP/h3" 2>/dev/null || [ $i -gt 100 ]; do
  req h3 GET /health >/dev/null; i=$((i + 1)); sleep 0.05
done
kill -TERM "$SERVE_PID"
wait "$cp1" "$cp2" "$cp3"
wait "$SERVE_PID"; rc=$?
codes=$(cat "$T_TMP/s1.code" "$T_TMP/s2.code" "$T_TMP/s3.code" | sort | tr '\n' ' ')
[ "$codes" = "200 503 503 " ]; ok $? "SIGTERM with 1 running + 2 queued: one 200, two 503 ($codes)"
"$VLDOC" -q -f md "$T_TMP/longer.pdf" >"$T_TMP/long.md"
whole=1 refused=0
for i in 1 2 3; do
  case $(cat "$T_TMP/s$i.code") in
  200) cmp -s "$T_TMP/s$i" "$T_TMP/long.md" && whole=0 ;;
  503) is_error "s$i" "shutting down" && refused=$((refused + 1)) ;;
  esac
done
[ $whole -eq 0 ]; ok $? "the running request finished whole"
[ $refused -eq 2 ]; ok $? "queued requests: 503 'shutting down'"
[ $rc -eq 0 ] && ! grep -q "Sanitizer" "$T_TMP/serve3.log"; ok $? "exits 0, no sanitizer report (rc $rc)"

# no grace: the running request is cancelled, and told so
start_serve "$T_TMP/serve4.log" -e text --shutdown-grace 0
req g1 POST "/v1/convert?format=md" "$T_TMP/long.pdf" "Content-Type: application/pdf" >"$T_TMP/g1.code" &
cp=$!
i=0
until grep -q '"busy":1' "$T_TMP/h4" 2>/dev/null || [ $i -gt 100 ]; do
  req h4 GET /health >/dev/null; i=$((i + 1)); sleep 0.05
done
kill -TERM "$SERVE_PID"; wait "$cp"; wait "$SERVE_PID"; rc=$?
[ "$(cat "$T_TMP/g1.code")" = 503 ] && is_error g1 "shut down before the request finished"
ok $? "--shutdown-grace 0: the running request gets 503 ($(cat "$T_TMP/g1.code"))"
[ $rc -eq 0 ]; ok $? "and the server exits 0 (rc $rc)"

done_testing
