#!/bin/sh
# Bounded load test of vldoc serve: a fixed count of /v1/convert requests
# from many connections at once against one worker and a short queue.
# Reports requests/s; shows that the queue limit answers 503 with
# Retry-After (and a JSON error) instead of queueing without bound, that
# every 200 carries the right document, that no connection fails, and
# that the server exits cleanly afterwards (no leak under ASan).
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
. "$VLDOC_SRCDIR/tests/cli/remote-lib.sh"
need_shared
need_serve
need_python
PDF="$VLDOC_SHARED/corpus/layout/samplefiles_multicolumn.pdf"
N=${VLDOC_LOAD_N:-100}
CONC=${VLDOC_LOAD_CONC:-32}
export TMPDIR="$T_TMP"

"$VLDOC" -q -f md "$PDF" >"$T_TMP/expected.md"
start_serve "$T_TMP/serve.log" -e text --workers 1 --threads 1 --queue 4 \
  --max-connections 64 ||
  skip_all "vldoc serve did not start: $(cat "$T_TMP/serve.log")"

field() { # field FILE KEY.PATH
  /usr/bin/python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v.get(k, 0) if isinstance(v, dict) else 0
print(v)' "$1" "$2"
}
load() { # load NAME N CONNECTIONS
  /usr/bin/python3 "$VLDOC_SRCDIR/tests/cli/load-client.py" \
    "$SERVE_URL/v1/convert?format=md" "$PDF" application/pdf \
    "$T_TMP/expected.md" "$2" "$3" >"$T_TMP/$1.json"
  diag "$1: $(cat "$T_TMP/$1.json")"
}

# 1. throughput: as many connections as the worker and queue hold
load steady "$N" 4
diag "requests/s: $(field "$T_TMP/steady.json" rps) ($N requests, 4 connections, 1 worker x 1 thread, queue 4)"
[ "$(field "$T_TMP/steady.json" status.200)" -eq "$N" ]
ok $? "steady load: all $N requests served (200)"
[ "$(field "$T_TMP/steady.json" mismatch)" -eq 0 ]; ok $? "every 200 carries exactly the CLI's Markdown"

# 2. overload: far more connections than the queue holds
load burst 300 "$CONC"
ok200=$(field "$T_TMP/burst.json" status.200) rej=$(field "$T_TMP/burst.json" status.503)
diag "requests/s: $(field "$T_TMP/burst.json" rps) (300 requests, $CONC connections; 503s answer at once)"
[ $((ok200 + rej)) -eq 300 ]; ok $? "overload: every request answered 200 or 503 ($ok200 + $rej of 300)"
[ "$(field "$T_TMP/burst.json" conn_errors)" -eq 0 ]; ok $? "no connection failed"
[ "$rej" -gt 0 ]; ok $? "the full queue answered 503 ($rej times)"
[ "$ok200" -gt 0 ]; ok $? "and served the rest ($ok200)"
[ "$(field "$T_TMP/burst.json" bad_503)" -eq 0 ]; ok $? "every 503 has Retry-After and a JSON error"
[ "$(field "$T_TMP/burst.json" mismatch)" -eq 0 ]; ok $? "every 200 carries exactly the CLI's Markdown"
ok200=$((ok200 + N))

/usr/bin/python3 "$VLDOC_SRCDIR/tests/cli/http-client.py" GET "$SERVE_URL/health" \
  "$T_TMP/health" >/dev/null
/usr/bin/python3 - "$T_TMP/health" "$ok200" "$rej" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
sys.exit(0 if h["served"] == int(sys.argv[2]) and h["rejected"] == int(sys.argv[3])
         and h["busy"] == 0 and h["queued"] == 0 else 1)
PY
ok $? "/health counts match: served $ok200, rejected $rej, nothing left queued"

kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; rc=$?
[ $rc -eq 0 ]; ok $? "clean exit after the load (rc $rc)"
! grep -q "Sanitizer" "$T_TMP/serve.log"; ok $? "no sanitizer report: no leak, no memory error"
ls "$T_TMP" | grep -q '^vldoc-serve-'; [ $? -ne 0 ]; ok $? "no temp files left"
done_testing
