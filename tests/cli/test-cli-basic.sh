#!/bin/sh
# CLI basics: help, version, usage errors and their exit status, bad
# inputs that must not stop a batch, atomic outputs, page ranges.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
C="$VLDOC_SHARED/corpus"

"$VLDOC" --help >"$T_TMP/help" 2>&1; ok $? "--help exits 0"
contains "$T_TMP/help" "Exit status"; ok $? "--help documents exit status"
"$VLDOC" --version >"$T_TMP/ver"; ok $? "--version exits 0"
grep -q '^vldoc [0-9]' "$T_TMP/ver"; ok $? "--version prints the version"
grep -q '^Features: .*pdf' "$T_TMP/ver"; ok $? "--version lists features"

"$VLDOC" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ]; ok $? "no input is a usage error (rc $rc)"
"$VLDOC" --pages 3-1 x.pdf 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "bad page range"; ok $? "bad --pages is a usage error"
"$VLDOC" -f docx x.pdf 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "unknown format"; ok $? "unknown format is a usage error"
"$VLDOC" --engine nope "$C/layout/samplefiles_multicolumn.pdf" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "unknown engine 'nope'"; ok $? "unknown engine is named"

# a bad file does not stop the batch; exit status 1; the good one converts
mkdir -p "$T_TMP/in"
printf 'not a pdf at all' >"$T_TMP/in/a-bad.pdf"
cp "$C/layout/samplefiles_multicolumn.pdf" "$T_TMP/in/b-good.pdf"
: >"$T_TMP/in/c-empty.pdf"
"$VLDOC" -q -o "$T_TMP/out/" "$T_TMP/in" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ]; ok $? "batch with bad files exits 1 (rc $rc)"
[ -s "$T_TMP/out/b-good.md" ]; ok $? "good file converted despite bad ones"
[ ! -e "$T_TMP/out/a-bad.md" ]; ok $? "no output for an unreadable input"
grep -q "a-bad.pdf: not a PDF, TIFF, PNG or JPEG" "$T_TMP/err"; ok $? "bad file named with reason"
grep -q "c-empty.pdf: empty file" "$T_TMP/err"; ok $? "empty file named with reason"
ls -a "$T_TMP/out" | grep -q vldoc-; [ $? -ne 0 ]; ok $? "no temp files left behind"

# --skip-existing leaves an existing output alone
echo keep >"$T_TMP/out/b-good.md"
"$VLDOC" -q --skip-existing -o "$T_TMP/out/" "$T_TMP/in/b-good.pdf"; rc=$?
[ "$(cat "$T_TMP/out/b-good.md")" = keep ]; ok $? "--skip-existing skips (rc $rc)"

# encrypted without password: clear error, hint
"$VLDOC" "$C/hostile/encrypted/camelot_health_protected.pdf" >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && grep -q "encrypted, password required" "$T_TMP/err"; ok $? "encrypted PDF: clear error"
grep -q -- "--password" "$T_TMP/err"; ok $? "encrypted PDF: hint names --password"
"$VLDOC" --password userpass "$C/hostile/encrypted/camelot_health_protected.pdf" >"$T_TMP/enc.md" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 0 ] && grep -q "Public Health" "$T_TMP/enc.md"; ok $? "encrypted PDF opens with --password"

# page ranges
"$VLDOC" -f json --pages 2 "$C/layout/docling_multi_page.pdf" >"$T_TMP/p2.json"; rc=$?
[ $rc -eq 0 ] && grep -q '"page":2' "$T_TMP/p2.json" && ! grep -q '"page":1,' "$T_TMP/p2.json"
ok $? "--pages 2 converts only page 2"

# never overwrite an input
cp "$C/layout/samplefiles_multicolumn.pdf" "$T_TMP/same.pdf"
cksum "$T_TMP/same.pdf" >"$T_TMP/sum1"
"$VLDOC" -q -o "$T_TMP/same.pdf" "$T_TMP/same.pdf" 2>"$T_TMP/err"; rc=$?
cksum "$T_TMP/same.pdf" | cmp -s - "$T_TMP/sum1"; ok $? "input not overwritten (rc $rc)"

done_testing
