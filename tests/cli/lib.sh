# TAP helpers for the CLI tests (sourced). Each test runs the built vldoc
# ($VLDOC) and writes only under its own scratch directory in the build
# tree.
: "${VLDOC:?VLDOC must point at the built vldoc}"
T_N=0
T_FAIL=0
T_TMP=$(mktemp -d "${VLDOC_BUILDDIR:-.}/tmp.cli.XXXXXX")
trap 'rm -rf "$T_TMP"' EXIT

ok() { # ok COND-STATUS DESCRIPTION
  T_N=$((T_N + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $T_N - $2"
  else
    echo "not ok $T_N - $2"
    T_FAIL=$((T_FAIL + 1))
  fi
}
skip() { T_N=$((T_N + 1)); echo "ok $T_N # SKIP $1"; }
diag() { echo "# $*"; }
done_testing() { echo "1..$T_N"; [ "$T_FAIL" -eq 0 ]; }
need_shared() {
  if [ -z "${VLDOC_SHARED:-}" ] || [ ! -d "$VLDOC_SHARED/corpus" ]; then
    echo "1..0 # SKIP shared corpus not found (configure --with-shared-dir)"
    exit 0
  fi
}
# contains FILE TEXT: grep -F, quietly
contains() { grep -qF -- "$2" "$1"; }
