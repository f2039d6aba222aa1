#!/bin/sh
# Print "N passed, N failed" from automake test-suite.log files (each TAP
# line counts). Usage: tests/summary.sh BUILDDIR...
pass=0 fail=0
for d in "$@"; do
  log="$d/test-suite.log"
  if [ ! -f "$log" ]; then
    echo "summary: $log missing" >&2
    fail=$((fail + 1))
    continue
  fi
  eval "$(awk '
    /^# PASS:/  { p += $3 }
    /^# FAIL:/  { f += $3 }
    /^# XPASS:/ { f += $3 }
    /^# ERROR:/ { f += $3 }
    END { printf "p=%d f=%d\n", p, f }' "$log")"
  pass=$((pass + p)); fail=$((fail + f))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
