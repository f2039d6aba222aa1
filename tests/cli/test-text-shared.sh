#!/bin/sh
# The text engine end to end on the born-digital PDFs of the shared corpus
# (see its MANIFEST.tsv): invoices keep every ground-truth value the text
# layer holds; layout pages read like their Markdown/text ground truth;
# table pages keep their cells; encrypted files open with the password
# from .expect.json and fail clearly without; corrupt files fail with one
# clear line or convert; rotated and odd-sized pages convert upright.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
C="$VLDOC_SHARED/corpus"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
SC="$VLDOC_SRCDIR/tests/cli/text-score.py"
command -v pdftotext >/dev/null || { echo "1..0 # SKIP pdftotext missing"; exit 0; }
score() { tail -1 "$1" | cut -d' ' -f"$2"; }
# Invoices. A value counts when it appears once whitespace is ignored;
# numbers count in either 1,234.56 or 1.234,56 form; dates in any common
# printed form (2014-08-03, 03.08.2014, 3 Aug 2014, August 3, 2014). Some
# ground-truth values are not in the text layer at all (drawn as images,
# or formatted differently), so the bar is pdftotext's own plain output:
# every value it exposes, vldoc must too. Page furniture is kept
# (--keep-furniture) since bank details often sit in the footer.
for f in "$C"/invoices/*.pdf; do
  b=$(basename "$f" .pdf)
  "$VLDOC" -q --keep-furniture "$f" >"$T_TMP/$b.md" 2>"$T_TMP/err"; rc=$?
  pdftotext "$f" "$T_TMP/$b.ref" 2>/dev/null
  $PY "$SC" fields "$C/invoices/$b.gt.json" "$T_TMP/$b.md" >"$T_TMP/$b.s"
  $PY "$SC" fields "$C/invoices/$b.gt.json" "$T_TMP/$b.ref" >"$T_TMP/$b.r"
  miss=$(grep '^PASS' "$T_TMP/$b.r" | cut -d' ' -f2- | while read -r l; do
    grep -qxF "PASS $l" "$T_TMP/$b.s" || echo "$l"; done)
  [ -n "$miss" ] && echo "$miss" | sed 's/^/# missing: /'
  [ $rc -eq 0 ] && [ -z "$miss" ]
  ok $? "$b" "invoice $b: $(score "$T_TMP/$b.s" 2) of $(score "$T_TMP/$b.s" 3) values (pdftotext: $(score "$T_TMP/$b.r" 2))"
done

# Layout pages against ground truth: word-sequence similarity (2 * words
# matched in order / words in both, difflib), recall of the ground
# truth's words in order, and recall as a bag of words. docling's ground
# truths are another tool's output (image placeholders, table syntax, no
# page furniture), so identical text scores about 0.8-0.95; 0.75
# similarity and 0.8 in-order recall leave room for that and still fail
# on a wrong column order (which halves the in-order match). The .gt.txt
# files are layout-mode text (pypdf, pdfplumber) that interleaves columns
# and keeps line numbers line by line, so for them only the bag counts
# (0.9), and column order is checked directly below.
sim() { # sim PDF GT MINSIM MINREC MINBAG [vldoc options]
  pdf=$1 gt=$2 ms=$3 mr=$4 mb=$5; shift 5
  b=$(basename "$pdf" .pdf)
  "$VLDOC" -q "$@" "$pdf" >"$T_TMP/$b.md" 2>"$T_TMP/err"; rc=$?
  $PY "$SC" similar "$gt" "$T_TMP/$b.md" >"$T_TMP/$b.sim"
  s=$(score "$T_TMP/$b.sim" 2) r=$(score "$T_TMP/$b.sim" 3)
  g=$(score "$T_TMP/$b.sim" 4)
  [ $rc -eq 0 ] &&
    $PY -c "import sys; sys.exit(not ($s >= $ms and $r >= $mr and $g >= $mb))"
  ok $? "$b" "layout $b: similarity $s, in-order $r, bag $g (min $ms $mr $mb)"
}
for gt in "$C"/layout/*.gt.md; do
  b=${gt%.gt.*}
  case $b in
    # Arabic, in logical order like docling's ground truth; the PDF's own
    # text has some lam-alef ligatures the other way round (pdftotext
    # shows them so too), which costs about a tenth of the words
    *right_to_left*) sim "$b.pdf" "$gt" 0.85 0.85 0.88 ;;
    *) sim "$b.pdf" "$gt" 0.75 0.8 0.85 ;;
  esac
done
for gt in "$C"/layout/*.gt.txt; do
  sim "${gt%.gt.txt}.pdf" "$gt" 0 0 0.9
done
sim "$C/hostile/page-geometry/olmocr_edgar_rotated90.pdf" \
  "$C/hostile/page-geometry/olmocr_edgar_rotated90.gt.md" 0.75 0.8 0.85
a=$(grep -n "Lorem ipsum dolor sit amet" "$T_TMP/samplefiles_multicolumn.md" | head -1 | cut -d: -f1)
z=$(grep -n "pellentesque ante" "$T_TMP/samplefiles_multicolumn.md" | head -1 | cut -d: -f1)
[ -n "$a" ] && [ -n "$z" ] && [ "$a" -lt "$z" ]; ok $? "multicolumn: column 1 before column 2"

# Tables: every cell of the ground-truth CSV, as words, in the output
for gt in "$C"/tables/*.gt.csv; do
  b=$(basename "$gt" .gt.csv); b=${b%.table*}
  pdf="$C/tables/$b.pdf"
  [ -f "$pdf" ] || continue
  [ -f "$T_TMP/$b.tmd" ] || "$VLDOC" -q --keep-furniture "$pdf" >"$T_TMP/$b.tmd" 2>/dev/null
  r=$($PY - "$gt" "$T_TMP/$b.tmd" <<'PYEOF'
import csv, re, sys
w = lambda s: re.findall(r"\w+", s.lower())
out = set(w(open(sys.argv[2], encoding="utf-8", errors="replace").read()))
cells = [w(c) for row in csv.reader(open(sys.argv[1], encoding="utf-8")) for c in row]
words = [x for c in cells for x in c]
print("%.3f" % (sum(x in out for x in words) / max(len(words), 1)))
PYEOF
)
  $PY -c "import sys; sys.exit(not $r >= 0.97)"
  ok $? "table $(basename "$gt"): $r of its cell words present"
done

# Table structure: the adjacency relations of every ground-truth table
# (each cell with its next neighbour right and below, the ICDAR 2013
# competition's measure) found in the best-matching table of the QwenVL
# HTML. Reported per table; the mean over all of them must hold (0.85
# when written; camelot_health and icdar2013_us-025 table 2 and 6 are
# tables Poppler's text runs together, under 0.1).
sum=0 n=0
for pdf in "$C"/tables/*.pdf; do
  b=$(basename "$pdf" .pdf)
  gts=$(ls "$C/tables/$b.gt.csv" "$C/tables/$b".table*.gt.csv 2>/dev/null)
  [ -n "$gts" ] || continue
  "$VLDOC" -q -f qwenvl --keep-furniture "$pdf" >"$T_TMP/$b.html" 2>/dev/null
  # shellcheck disable=SC2086
  $PY "$SC" tables "$T_TMP/$b.html" $gts >"$T_TMP/$b.ts"
  grep '^TABLE' "$T_TMP/$b.ts" | sed 's/^TABLE /#   /'
  sum=$(echo "$sum $(tail -1 "$T_TMP/$b.ts" | cut -d' ' -f2-3)" |
    awk '{printf "%.4f", $1 + $2 * $3}')
  n=$((n + $(tail -1 "$T_TMP/$b.ts" | cut -d' ' -f3)))
done
mean=$(echo "$sum $n" | awk '{printf "%.3f", $1 / $2}')
$PY -c "import sys; sys.exit(not $mean >= 0.82)"
ok $? "table structure: mean adjacency F1 $mean over $n tables (min 0.82)"

# Encrypted: the password from .expect.json opens it; without one a
# password-protected file fails with the documented line.
for e in "$C"/hostile/encrypted/*.expect.json; do
  b=$(basename "$e" .expect.json); f="$C/hostile/encrypted/$b.pdf"
  pw=$($PY -c "import json,sys; print(json.load(open(sys.argv[1])).get('user_password') or '')" "$e")
  if [ -n "$pw" ]; then
    "$VLDOC" -q "$f" >/dev/null 2>"$T_TMP/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "$b.pdf: encrypted, password required" "$T_TMP/err"
    ok $? "encrypted $b: clear error without password (rc $rc)"
    "$VLDOC" -q --password "$pw" "$f" >"$T_TMP/$b.md" 2>"$T_TMP/err"; rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 1 ] && [ $rc -lt 2 ]
    n=$(wc -w <"$T_TMP/$b.md")
    [ $rc -eq 0 ] && [ "$n" -gt 0 ]; ok $? "encrypted $b: opens with its password ($n words, rc $rc)"
  else
    "$VLDOC" -q "$f" >"$T_TMP/$b.md" 2>"$T_TMP/err"; rc=$?
    [ $rc -le 1 ] && { [ $rc -eq 0 ] || [ "$(wc -l <"$T_TMP/err")" -ge 1 ]; }
    ok $? "encrypted $b: converts or fails clearly (rc $rc)"
  fi
done

# Corrupt files: exit 0 or 1 (never a crash or a signal), and a failure
# says which file and why, on lines starting "vldoc: ".
for f in "$C"/hostile/corrupt-pdf/*.pdf; do
  b=$(basename "$f" .pdf)
  timeout 60 "$VLDOC" -q "$f" >"$T_TMP/$b.md" 2>"$T_TMP/err"; rc=$?
  { [ $rc -eq 0 ] || { [ $rc -eq 1 ] && grep -q "^vldoc: .*$b.pdf" "$T_TMP/err"; }; }
  ok $? "corrupt $b: rc $rc $(head -c 90 "$T_TMP/err" | tr '\n' ' ')"
done

# Page geometry: every page with text comes out with the words pdftotext
# finds (rotated pages read in their own direction)
for f in "$C"/hostile/page-geometry/*.pdf; do
  b=$(basename "$f" .pdf)
  timeout 60 "$VLDOC" -q --keep-furniture "$f" >"$T_TMP/$b.md" 2>"$T_TMP/err"; rc=$?
  pdftotext "$f" "$T_TMP/$b.ref" 2>/dev/null
  r=$($PY - "$T_TMP/$b.ref" "$T_TMP/$b.md" <<'PYEOF'
import re, sys
w = lambda p: re.findall(r"\w+", open(p, encoding="utf-8", errors="replace").read().lower())
ref, out = w(sys.argv[1]), set(w(sys.argv[2]))
print("%.3f" % (sum(x in out for x in ref) / len(ref)) if ref else "1.000")
PYEOF
)
  { [ $rc -eq 0 ] || grep -q "no text layer" "$T_TMP/err"; } &&
    $PY -c "import sys; sys.exit(not $r >= 0.95)"
  ok $? "geometry $b: rc $rc, $r of pdftotext's words"
done
done_testing
