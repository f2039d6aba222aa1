#!/bin/sh
# Every writer's output on the golden inputs, checked by independent tools:
# JSON Schema validation (python3-jsonschema), Markdown structure through
# cmark-gfm, HTML safety, and the real model outputs' element ground truth
# (tests/golden/check-formats.py says what each check compares).
: "${VLDOC_BUILDDIR:=.}" "${VLDOC_SRCDIR:=.}"
PY=/usr/bin/python3
if ! "$PY" -c 'import jsonschema' 2>/dev/null; then
  echo "1..0 # SKIP $PY with python3-jsonschema not found (tools/install-deps)"
  exit 0
fi
out=$(mktemp -d "$VLDOC_BUILDDIR/tmp.formats.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT
"$VLDOC_BUILDDIR/tests/golden/run-golden" -o "$out" >"$out.log" 2>&1 || {
  echo "1..1"
  echo "not ok 1 - run-golden -o wrote the outputs"
  sed 's/^/# /' "$out.log"
  rm -f "$out.log"
  exit 1
}
rm -f "$out.log"
"$PY" "$VLDOC_SRCDIR/tests/golden/check-formats.py" "$out" \
  "$VLDOC_SRCDIR" "${VLDOC_SHARED:-}"
rc=$?
rm -rf "$out"
exit $rc
