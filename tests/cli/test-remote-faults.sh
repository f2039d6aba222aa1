#!/bin/sh
# Remote engine against the fault-injection server: slow replies, dropped
# connections, 429 with Retry-After, 500s, truncated bodies and invalid
# JSON are retried as documented; final errors name the page; the server
# counts requests per page, so no page is lost or sent twice. The checks
# are in tests/unit/test-remote.c; this starts the server for it.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
. "$VLDOC_SRCDIR/tests/cli/remote-lib.sh"
need_remote
prog="$VLDOC_BUILDDIR/tests/unit/test-remote"
[ -x "$prog" ] || skip_all "$prog not built"
start_fault_server
"$prog" "$FAULT_URL"
