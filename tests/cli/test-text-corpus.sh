#!/bin/sh
# The project's own corpus: tools/gen-corpus must redraw corpus/*.pdf byte
# for byte, and vldoc's Markdown and JSON for them must equal the
# expected files beside them (golden test).
# To accept new output after a deliberate change, run
#   VLDOC_UPDATE=1 make check TESTS=tests/cli/test-text-corpus.sh
# and review the diff of corpus/*.expected.* before committing.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
S="$VLDOC_SRCDIR/corpus"
GEN="$VLDOC_BUILDDIR/tools/gen-corpus"
[ -x "$GEN" ] || { echo "1..0 # SKIP tools/gen-corpus not built"; exit 0; }

mkdir -p "$T_TMP/gen"
"$GEN" "$T_TMP/gen"; ok $? "gen-corpus runs"
for n in invoice article report; do
  if cmp -s "$T_TMP/gen/$n.pdf" "$S/$n.pdf"; then
    ok 0 "$n.pdf regenerates byte for byte"
  elif [ "$(fc-match -f '%{family}' 'DejaVu Sans' 2>/dev/null)" != "DejaVu Sans" ]; then
    skip "$n.pdf: DejaVu fonts missing (tools/install-deps)"
  else
    ok 1 "$n.pdf regenerates byte for byte (cairo $(pkg-config --modversion cairo 2>/dev/null))"
  fi
done

# golden outputs; run in corpus/ so the JSON names the file, not a path
for n in invoice article report; do
  for f in md json; do
    (cd "$S" && "$VLDOC" -q -f $f "$n.pdf") >"$T_TMP/$n.$f" 2>"$T_TMP/err"
    rc=$?
    if [ -n "${VLDOC_UPDATE:-}" ] && [ $rc -eq 0 ]; then
      cp "$T_TMP/$n.$f" "$S/$n.expected.$f"
      diag "updated corpus/$n.expected.$f"
    fi
    if [ $rc -eq 0 ] && cmp -s "$T_TMP/$n.$f" "$S/$n.expected.$f"; then
      ok 0 "$n: -f $f equals corpus/$n.expected.$f"
    else
      diff "$S/$n.expected.$f" "$T_TMP/$n.$f" | head -20 | sed 's/^/# /'
      ok 1 "$n: -f $f equals corpus/$n.expected.$f (rc $rc)"
    fi
  done
done

# what the golden files must say, checked independently of them
contains "$T_TMP/invoice.md" "| Hex key set, 9 pieces | 2 | 9.50 | 19.00 |"
ok $? "invoice: line items come out as a table row"
contains "$T_TMP/invoice.md" "324.24"; ok $? "invoice: total present"
grep -q "^# INVOICE" "$T_TMP/invoice.md"; ok $? "invoice: title is a heading"
! contains "$T_TMP/invoice.md" "Page 1 of 1"; ok $? "invoice: page number left out"
a=$(grep -n "Columns are read" "$T_TMP/article.md" | cut -d: -f1)
b=$(grep -n "Headings stand out" "$T_TMP/article.md" | cut -d: -f1)
[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]; ok $? "article: left column before right column"
grep -q "^## 2 Method" "$T_TMP/article.md"; ok $? "article: section heading level 2"
grep -q "^- Lines are words on one baseline" "$T_TMP/article.md"; ok $? "article: bulleted list"
grep -q "^2\. Group words into lines" "$T_TMP/article.md"; ok $? "article: numbered list"
! contains "$T_TMP/report.md" "Quarterly report"; ok $? "report: running header left out"
! contains "$T_TMP/report.md" "Page 2 of 3"; ok $? "report: page numbers left out"
grep -q '"kind":"page_header"' "$T_TMP/report.json"; ok $? "report: header kept in JSON as page_header"
grep -q '"kind":"page_number"' "$T_TMP/report.json"; ok $? "report: page number kept in JSON as page_number"
done_testing
