#!/bin/sh
# Isolation: convert, render and serve run the third-party decoders in
# worker processes. A PDF that hangs Poppler (rendering its form fields)
# and a crash injected in the worker (VLDOC_TEST_CRASH_AT, a testing hook
# honoured only in workers) cost one page, named with its file, never the
# batch; nothing partial is left behind and the exit status says so.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
. "$VLDOC_SRCDIR/tests/cli/remote-lib.sh"
need_shared
C="$VLDOC_SHARED/corpus"
HANG="$C/hostile/corrupt-pdf/qpdf_shared_unnamed_field_hangs_poppler.pdf"
MULTI="$C/layout/docling_multi_page.pdf"
A="$VLDOC_SRCDIR/corpus/article.pdf"
B="$VLDOC_SRCDIR/corpus/invoice.pdf"
[ -f "$HANG" ] && [ -f "$MULTI" ] || skip_all "corpus files missing"
# no temp files (vd_out's .NAME.vldoc-XXXXXX) under DIR
no_temp() { [ -z "$(find "$1" -name '*.vldoc-*' 2>/dev/null)" ]; }
# secs: wall-clock seconds since the epoch
secs() { date +%s; }
# page_json FILE N: page N (1-based) of a JSON document, canonical
page_json() {
  /usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps(d["pages"][int(sys.argv[2]) - 1], sort_keys=True))' "$1" "$2"
}
need_python

# ---- a crash mid-document (text engine: no server needed) ----
"$VLDOC" --no-isolate -q -f json -o "$T_TMP/ref/" "$A" "$MULTI" "$B" \
  2>"$T_TMP/ref.err"
ok $? "reference batch in-process"
VLDOC_TEST_CRASH_AT=docling_multi_page.pdf:3 "$VLDOC" -q -f json \
  -o "$T_TMP/crash/" --manifest "$T_TMP/crash.jsonl" "$A" "$MULTI" "$B" \
  2>"$T_TMP/crash.err"
rc=$?
[ $rc -eq 1 ]; ok $? "a crashed page: exit status 1 ($rc)"
contains "$T_TMP/crash.err" "docling_multi_page.pdf: page 3:" &&
  contains "$T_TMP/crash.err" "crashed (signal"
ok $? "the crash is reported naming file and page"
cmp -s "$T_TMP/ref/article.json" "$T_TMP/crash/article.json" &&
  cmp -s "$T_TMP/ref/invoice.json" "$T_TMP/crash/invoice.json"
ok $? "the documents before and after it are converted as in-process"
same=0
for p in 1 2 4 5; do
  [ "$(page_json "$T_TMP/ref/docling_multi_page.json" $p)" = \
    "$(page_json "$T_TMP/crash/docling_multi_page.json" $p)" ] || same=1
done
ok $same "the other pages of that document (before and after) are converted"
/usr/bin/python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["pages"][2]
sys.exit(0 if p["page"] == 3 and p["status"] != "ok" and
         "crashed" in json.dumps(p) else 1)' "$T_TMP/crash/docling_multi_page.json"
ok $? "the crashed page is marked in the document"
grep 'docling_multi_page.pdf"' "$T_TMP/crash.jsonl" | grep -q '"status":"failed".*"pages_failed":1'
ok $? "the manifest records the document as failed, one page"
no_temp "$T_TMP/crash"; ok $? "no temp files left"

# stdout: the same bytes as in-process, in input order
"$VLDOC" --no-isolate -q "$A" "$B" "$MULTI" >"$T_TMP/ref.md" 2>/dev/null
"$VLDOC" -q "$A" "$B" "$MULTI" >"$T_TMP/iso.md" 2>/dev/null
cmp -s "$T_TMP/ref.md" "$T_TMP/iso.md"; ok $? "stdout: isolated equals in-process"
VLDOC_TEST_CRASH_AT=invoice.pdf:1 "$VLDOC" -q "$A" "$B" "$MULTI" \
  >"$T_TMP/iso2.md" 2>/dev/null
rc=$?
"$VLDOC" --no-isolate -q "$A" >"$T_TMP/a.md" 2>/dev/null
"$VLDOC" --no-isolate -q "$MULTI" >"$T_TMP/m.md" 2>/dev/null
head -c "$(wc -c <"$T_TMP/a.md")" "$T_TMP/iso2.md" | cmp -s - "$T_TMP/a.md" &&
  tail -c "$(wc -c <"$T_TMP/m.md")" "$T_TMP/iso2.md" | cmp -s - "$T_TMP/m.md" &&
  grep -q "page 1 failed: .*invoice.pdf: page 1: .*crashed" "$T_TMP/iso2.md" &&
  [ $rc -eq 1 ]
ok $? "stdout: a crash in the middle input keeps the order and the others"

# the memory guard: a worker over --worker-memory is stopped like a hung
# one (on the hang, so the worker is surely alive when it is looked at)
t0=$(secs)
"$VLDOC" render --worker-memory 1 --stall-timeout 600 -o "$T_TMP/mem/" \
  "$HANG" >/dev/null 2>"$T_TMP/mem.err"
rc=$?
t1=$(secs)
[ $rc -eq 1 ] && [ $((t1 - t0)) -lt 30 ] &&
  contains "$T_TMP/mem.err" "hangs_poppler.pdf: " &&
  contains "$T_TMP/mem.err" "over --worker-memory 1, and was stopped"
ok $? "--worker-memory: a worker over the limit is stopped and named ($rc)"

# ---- render: the hang, and a crash ----
t0=$(secs)
"$VLDOC" render --stall-timeout 2 -o "$T_TMP/rh/" "$HANG" >/dev/null \
  2>"$T_TMP/rh.err"
rc=$?
t1=$(secs)
[ $rc -eq 1 ] && [ $((t1 - t0)) -lt 30 ]
ok $? "render of the Poppler hang ends with status 1 ($rc, $((t1 - t0)) s)"
contains "$T_TMP/rh.err" "qpdf_shared_unnamed_field_hangs_poppler.pdf: page 1: timed out"
ok $? "render names the file and page that hung"
no_temp "$T_TMP/rh"; ok $? "render: no temp files left"
VLDOC_TEST_CRASH_AT=docling_multi_page.pdf:2 "$VLDOC" render -o "$T_TMP/rc/" \
  "$MULTI" >"$T_TMP/rc.out" 2>"$T_TMP/rc.err"
rc=$?
[ $rc -eq 1 ] && [ -f "$T_TMP/rc/docling_multi_page-p1.png" ] &&
  [ ! -e "$T_TMP/rc/docling_multi_page-p2.png" ] &&
  [ -f "$T_TMP/rc/docling_multi_page-p5.png" ] &&
  [ "$(grep -c ' -> ' "$T_TMP/rc.out")" -eq 4 ] &&
  contains "$T_TMP/rc.err" "docling_multi_page.pdf: page 2: the PDF decoder crashed"
ok $? "render: a crash on page 2 skips it and renders the rest ($rc)"

# ---- the remote engine renders pages: the hang in a batch ----
if ! "$VLDOC" --version | grep -q '^Features:.* remote'; then
  skip "remote engine not built"
  done_testing
  exit $?
fi
start_fault_server
R="--engine remote --endpoint $FAULT_URL/v1 --retry-wait 0.05"
"$VLDOC" --no-isolate -q $R -f json -o "$T_TMP/rref/" "$A" "$B" 2>/dev/null
t0=$(secs)
"$VLDOC" -q $R --stall-timeout 3 -f json -o "$T_TMP/rh2/" \
  --manifest "$T_TMP/rh2.jsonl" "$A" "$HANG" "$B" 2>"$T_TMP/rh2.err"
rc=$?
t1=$(secs)
[ $rc -eq 1 ] && [ $((t1 - t0)) -lt 40 ]
ok $? "a batch with the Poppler hang between two good files ends ($rc, $((t1 - t0)) s)"
same_doc "$T_TMP/rref/article.json" "$T_TMP/rh2/article.json" &&
  same_doc "$T_TMP/rref/invoice.json" "$T_TMP/rh2/invoice.json"
ok $? "the good files are converted"
contains "$T_TMP/rh2.err" "qpdf_shared_unnamed_field_hangs_poppler.pdf: page 1: timed out"
ok $? "the hang is reported naming the file and page"
grep 'hangs_poppler' "$T_TMP/rh2.jsonl" | grep -q '"status":"failed".*"pages_failed":1.*timed out'
ok $? "the manifest records it as failed"
no_temp "$T_TMP/rh2"; ok $? "no temp files left"

# the memory guard in a batch: the hang, stopped for its memory
"$VLDOC" -q $R --worker-memory 1 --stall-timeout 600 -o "$T_TMP/mem2/" \
  "$HANG" 2>"$T_TMP/mem2.err"
rc=$?
[ $rc -eq 1 ] && no_temp "$T_TMP/mem2" &&
  contains "$T_TMP/mem2.err" "hangs_poppler.pdf" &&
  contains "$T_TMP/mem2.err" "over --worker-memory 1, and was stopped"
ok $? "--worker-memory in a batch: the worker is stopped, the file named ($rc)"

# a crash with pages of several documents in flight (--jobs 4): the
# pages lost in flight run again, the crashed one is marked
"$VLDOC" --no-isolate -q $R --jobs 4 -f json -o "$T_TMP/jref/" "$A" "$MULTI" \
  "$B" 2>/dev/null
VLDOC_TEST_CRASH_AT=docling_multi_page.pdf:3 "$VLDOC" -q $R --jobs 4 -f json \
  -o "$T_TMP/jc/" "$A" "$MULTI" "$B" 2>"$T_TMP/jc.err"
rc=$?
/usr/bin/python3 - "$T_TMP/jref" "$T_TMP/jc" <<'PY'
import json, sys
bad = 0
for f in ["article", "docling_multi_page", "invoice"]:
    a = json.load(open("%s/%s.json" % (sys.argv[1], f)))["pages"]
    b = json.load(open("%s/%s.json" % (sys.argv[2], f)))["pages"]
    for i, (pa, pb) in enumerate(zip(a, b)):
        pa.pop("stats", None), pb.pop("stats", None)
        crashed = f == "docling_multi_page" and i == 2
        bad += (pb["status"] == "ok") if crashed else (pa != pb)
    bad += len(a) != len(b)
sys.exit(1 if bad else 0)
PY
[ $? -eq 0 ] && [ $rc -eq 1 ] && contains "$T_TMP/jc.err" "docling_multi_page.pdf: page 3:"
ok $? "--jobs 4: a crash marks its page; every other page as in-process ($rc)"

# SIGINT while a worker hangs: a clean stop, exit 130, nothing half-written
"$VLDOC" -q $R --stall-timeout 600 -o "$T_TMP/int/" "$HANG" 2>/dev/null &
pid=$!
sleep 1
kill -INT $pid
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
wait $pid
rc=$?
[ $rc -eq 130 ] && [ -z "$(ls -A "$T_TMP/int" 2>/dev/null)" ]
ok $? "SIGINT stops the batch: exit 130, no output ($rc)"

# ---- serve: the hang answers 504 and the worker recovers ----
if "$VLDOC" --version | grep -q '^Features:.* serve'; then
  H="/usr/bin/python3 $VLDOC_SRCDIR/tests/cli/http-client.py"
  if start_serve "$T_TMP/serve.log" --engine remote \
    --endpoint "$FAULT_URL/v1" --timeout 3 --workers 1; then
    s=$($H POST "$SERVE_URL/v1/convert?format=md" "$T_TMP/s1" "$HANG" \
      "Content-Type: application/pdf")
    [ "$s" = 504 ]; ok $? "serve: the hang file answers 504 ($s)"
    s=$($H POST "$SERVE_URL/v1/convert?format=md" "$T_TMP/s2" "$A" \
      "Content-Type: application/pdf")
    "$VLDOC" --no-isolate -q $R "$A" >"$T_TMP/s2.ref" 2>/dev/null
    [ "$s" = 200 ] && cmp -s "$T_TMP/s2" "$T_TMP/s2.ref"
    ok $? "serve: the next request is served ($s)"
    s=$($H POST "$SERVE_URL/v1/convert?format=md" \
      "$T_TMP/s3" "$B" "Content-Type: application/pdf")
    [ "$s" = 200 ]; ok $? "serve: and the one after ($s)"
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null
  else
    skip "vldoc serve did not start: $(cat "$T_TMP/serve.log")"
  fi
  # a decoder crash (injected in every request's child) answers 500 and
  # the server carries on
  VLDOC_TEST_CRASH_AT='*:1'
  export VLDOC_TEST_CRASH_AT
  started=0
  start_serve "$T_TMP/serve2.log" -e text && started=1
  unset VLDOC_TEST_CRASH_AT
  if [ $started = 1 ]; then
    s=$($H POST "$SERVE_URL/v1/convert?format=md" "$T_TMP/c1" "$A" \
      "Content-Type: application/pdf")
    [ "$s" = 500 ] && grep -q "crashed (signal" "$T_TMP/c1"
    ok $? "serve: a crashing decoder answers 500 ($s)"
    s=$($H POST "$SERVE_URL/v1/convert?format=md" "$T_TMP/c2" "$A" \
      "Content-Type: application/pdf")
    s2=$($H GET "$SERVE_URL/health" "$T_TMP/c3")
    [ "$s" = 500 ] && [ "$s2" = 200 ] && kill -0 "$SERVE_PID"
    ok $? "serve: and the server carries on ($s, $s2)"
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null
  else
    skip "vldoc serve did not start: $(cat "$T_TMP/serve.log")"
  fi
else
  skip "vldoc serve not built"
fi
done_testing
