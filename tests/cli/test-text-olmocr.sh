#!/bin/sh
# olmOCR-bench samples: the benchmark's own unit tests (present, absent,
# order, table, math, baseline; semantics re-implemented in
# text-score.py) scored on vldoc's Markdown and on `pdftotext -layout`
# side by side, per category. The text engine must pass clearly more: at
# least 30 percentage points above pdftotext, and no fewer than 40 of the
# 66 (42 when written; pdftotext 16). Out of reach of any text layer:
# scanned and handwritten samples (no text layer, or an OCR layer with
# misread words the tests quote exactly) and math (the tests want LaTeX).
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
B="$VLDOC_SHARED/corpus/benchmarks/olmocr-bench"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
SC="$VLDOC_SRCDIR/tests/cli/text-score.py"
command -v pdftotext >/dev/null || { echo "1..0 # SKIP pdftotext missing"; exit 0; }
vp=0 pp=0 tot=0
: >"$T_TMP/all"
for gt in "$B"/*.gt.json; do
  b=$(basename "$gt" .gt.json)
  "$VLDOC" -q -f md "$B/$b.pdf" >"$T_TMP/$b.md" 2>"$T_TMP/err"; rc=$?
  pdftotext -layout "$B/$b.pdf" "$T_TMP/$b.txt" 2>/dev/null
  $PY "$SC" olmocr "$gt" "$T_TMP/$b.md" >"$T_TMP/$b.v"
  $PY "$SC" olmocr "$gt" "$T_TMP/$b.txt" >"$T_TMP/$b.p"
  v=$(tail -1 "$T_TMP/$b.v" | cut -d' ' -f2) p=$(tail -1 "$T_TMP/$b.p" | cut -d' ' -f2)
  n=$(tail -1 "$T_TMP/$b.v" | cut -d' ' -f3)
  grep '^FAIL' "$T_TMP/$b.v" | sed 's/^/#   vldoc /'
  sed 's/^/V /' "$T_TMP/$b.v" >>"$T_TMP/all"
  sed 's/^/P /' "$T_TMP/$b.p" >>"$T_TMP/all"
  vp=$((vp + v)) pp=$((pp + p)) tot=$((tot + n))
  # pages without a text layer get auto's documented error
  { [ $rc -eq 0 ] || grep -q "has no text layer" "$T_TMP/err"; }
  ok $? "$b: vldoc $v/$n, pdftotext -layout $p/$n (rc $rc)"
done
awk '$2 == "PASS" || $2 == "FAIL" {
       n[$3] += $1 == "V"; if ($2 == "PASS") p[$1 " " $3]++ }
     END { for (c in n) printf "# %-9s vldoc %2d  pdftotext %2d  of %2d\n",
           c, p["V " c], p["P " c], n[c] }' "$T_TMP/all" | sort
diag "olmOCR-bench unit tests passed: vldoc $vp/$tot, pdftotext -layout $pp/$tot"
[ $((vp * 100)) -ge $((pp * 100 + 30 * tot)) ] && [ "$vp" -ge 40 ]
ok $? "vldoc passes 30 points more than pdftotext and 40 or more ($vp vs $pp of $tot)"
done_testing
