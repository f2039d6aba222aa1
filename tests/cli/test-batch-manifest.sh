#!/bin/sh
# --manifest: one JSON line per input, written as the batch runs; with
# --skip-existing an interrupted batch resumes where it stopped, redoes
# what the manifest records as failed, and loses nothing; outputs are
# always whole.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
. "$VLDOC_SRCDIR/tests/cli/remote-lib.sh"
need_shared
need_python
C="$VLDOC_SHARED/corpus"
PDF="$C/layout/samplefiles_multicolumn.pdf"
P=/usr/bin/python3

mkdir -p "$T_TMP/in"
for i in 1 2 3 4 5; do ln -s "$PDF" "$T_TMP/in/doc-$i.pdf"; done
printf 'junk' >"$T_TMP/in/doc-6-bad.pdf"
M="$T_TMP/m.jsonl"

"$VLDOC" -q -o "$T_TMP/out/" --manifest "$M" "$T_TMP/in" 2>/dev/null; rc=$?
[ $rc -eq 1 ]; ok $? "batch with a bad input exits 1 (rc $rc)"
$P - "$M" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
keys = {"input", "status", "output", "pages", "pages_failed", "error", "engine",
        "started", "finished", "seconds", "engine_seconds", "prompt_tokens",
        "generated_tokens", "attempts"}
assert len(lines) == 6, len(lines)
assert all(keys <= set(l) for l in lines), "fields"
good = [l for l in lines if l["status"] == "ok"]
bad = [l for l in lines if l["status"] == "error"]
assert len(good) == 5 and len(bad) == 1
assert all(l["pages"] == 3 and l["pages_failed"] == 0 and l["engine"] == "text"
           and l["output"].endswith(".md") and l["error"] is None for l in good)
assert bad[0]["input"].endswith("doc-6-bad.pdf") and bad[0]["output"] is None
assert "not a PDF" in bad[0]["error"]
assert all(l["finished"] >= l["started"] and l["seconds"] >= 0 for l in lines)
EOF
ok $? "one valid JSON line per input: status, output, pages, error, timings"

# resume: what is done is skipped, the failed input is tried again
touch -d '2001-01-01' "$T_TMP"/out/*.md
"$VLDOC" -q -o "$T_TMP/out/" --manifest "$M" --skip-existing "$T_TMP/in" 2>/dev/null
tail -n 6 "$M" | grep -c '"status":"skipped"' | grep -qx 5; ok $? "a second run skips the 5 done inputs"
tail -n 6 "$M" | grep '"status":"error"' | grep -q doc-6-bad; ok $? "and tries the failed one again"
[ "$(find "$T_TMP/out" -name '*.md' ! -newermt '2002-01-01' | wc -l)" -eq 5 ]
ok $? "skipped outputs are untouched"

# an output lost (a crash before it was committed): made again, alone
rm "$T_TMP/out/doc-2.md" "$T_TMP/out/doc-4.md"
"$VLDOC" -q -o "$T_TMP/out/" --manifest "$M" --skip-existing "$T_TMP/in" 2>/dev/null
tail -n 6 "$M" | grep '"status":"ok"' | sed 's/.*"input":"\([^"]*\)".*/\1/' |
  sed 's|.*/||' | sort | tr '\n' ' ' >"$T_TMP/redo"
[ "$(cat "$T_TMP/redo")" = "doc-2.pdf doc-4.pdf " ]; ok $? "only the missing outputs are made again ($(cat "$T_TMP/redo"))"

# an input the manifest records as failed (some page failed) runs again
# even though its output exists
printf '{"input":"%s","status":"failed","output":"x"}\n' "$T_TMP/in/doc-3.pdf" >>"$M"
"$VLDOC" -q -o "$T_TMP/out/" --manifest "$M" --skip-existing "$T_TMP/in" 2>/dev/null
tail -n 6 "$M" | grep '"status":"ok"' | grep -q 'doc-3.pdf'; ok $? "a recorded failure is converted again"

# a real interruption: SIGINT in the middle of a batch of long documents
R="$C/layout/docling_redp5110_sampled.pdf"
mkdir -p "$T_TMP/long"
if pdfunite "$R" "$R" "$R" "$R" "$T_TMP/long/a.pdf" 2>/dev/null; then
  for x in b c d e; do cp "$T_TMP/long/a.pdf" "$T_TMP/long/$x.pdf"; done
  "$VLDOC" -q -f md "$T_TMP/long/a.pdf" >"$T_TMP/long.md"
  "$VLDOC" -q -o "$T_TMP/lout/" --manifest "$T_TMP/l.jsonl" "$T_TMP/long" 2>/dev/null &
  pid=$!
  i=0
  until [ -s "$T_TMP/l.jsonl" ] || [ $i -gt 400 ]; do i=$((i + 1)); sleep 0.02; done
  kill -INT $pid; wait $pid; rc=$?
  n1=$(ls "$T_TMP/lout" | grep -c '\.md$')
  [ $rc -eq 130 ] && [ "$n1" -ge 1 ] && [ "$n1" -lt 5 ]
  ok $? "SIGINT stops the batch part way: exit 130, $n1 of 5 written"
  ls -a "$T_TMP/lout" | grep -q vldoc-; [ $? -ne 0 ]; ok $? "no half-written or temp files after SIGINT"
  whole=0
  for f in "$T_TMP"/lout/*.md; do cmp -s "$f" "$T_TMP/long.md" || whole=1; done
  [ $whole -eq 0 ]; ok $? "every output written before the interruption is whole"
  "$VLDOC" -q -o "$T_TMP/lout/" --manifest "$T_TMP/l.jsonl" --skip-existing "$T_TMP/long" 2>/dev/null; rc=$?
  whole=0
  for x in a b c d e; do cmp -s "$T_TMP/lout/$x.md" "$T_TMP/long.md" || whole=1; done
  [ $rc -eq 0 ] && [ $whole -eq 0 ]; ok $? "resuming finishes the batch: all 5 whole (rc $rc)"
  $P - "$T_TMP/l.jsonl" <<'EOF'
import json, sys
last = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    last[r["input"]] = r["status"]
n_ok = sum(1 for l in open(sys.argv[1]) if json.loads(l)["status"] == "ok")
sys.exit(0 if len(last) == 5 and set(last.values()) <= {"ok", "skipped"}
         and n_ok == 5 else 1)
EOF
  ok $? "the manifest records each input converted exactly once"
else
  skip "pdfunite not found (poppler-utils)"
fi

# awkward names: quotes, backslashes, spaces, non-ASCII, a line break
mkdir -p "$T_TMP/odd"
ln -s "$PDF" "$T_TMP/odd/a \"q\" \\ é.pdf"
ln -s "$PDF" "$T_TMP/odd/$(printf 'line\nbreak.pdf')"
"$VLDOC" -q -o "$T_TMP/oout/" --manifest "$T_TMP/o.jsonl" "$T_TMP/odd" 2>/dev/null
"$VLDOC" -q -o "$T_TMP/oout/" --manifest "$T_TMP/o.jsonl" --skip-existing "$T_TMP/odd" 2>/dev/null
$P - "$T_TMP/o.jsonl" "$T_TMP/odd" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = sorted(os.path.join(sys.argv[2], n) for n in os.listdir(sys.argv[2]))
first, second = rows[:2], rows[2:]
sys.exit(0 if sorted(r["input"] for r in first) == names
         and [r["status"] for r in first] == ["ok", "ok"]
         and [r["status"] for r in second] == ["skipped", "skipped"] else 1)
EOF
ok $? "awkward file names round-trip through the manifest and resume"

"$VLDOC" -q --manifest "$T_TMP/nodir/m.jsonl" "$PDF" >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "--manifest"; ok $? "an unwritable manifest is named (rc $rc)"
done_testing
