#!/bin/sh
# A short real fuzzing run of tests/fuzz/fuzz-qwenhtml.c (HTML -> tree ->
# writers) with clang's libFuzzer + ASan + UBSan, when they are installed
# (tools/install-deps: clang, libclang-rt-14-dev). The binary is built
# from the sources in the build tree and rebuilt only when they change.
# VLDOC_FUZZ_SECONDS sets the run's length (default 8).
: "${VLDOC_BUILDDIR:=.}" "${VLDOC_SRCDIR:=.}"
S=$VLDOC_SRCDIR
B=$VLDOC_BUILDDIR
secs=${VLDOC_FUZZ_SECONDS:-8}
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null 2>&1 || {
  echo "1..0 # SKIP clang not installed"; exit 0; }
command -v pkg-config >/dev/null 2>&1 || {
  echo "1..0 # SKIP pkg-config not installed"; exit 0; }

srcs="$S/tests/fuzz/fuzz-qwenhtml.c $S/lib/core-*.c $S/lib/doc.c
  $S/lib/qwenhtml.c $S/lib/raster-map.c $S/lib/raster-resize.c
  $S/formats/*.c"
bin=$B/tests/fuzz/libfuzzer-qwenhtml
mkdir -p "$B/tests/fuzz"
stale=1
if [ -x "$bin" ]; then
  stale=0
  for f in $srcs $S/lib/*.h $S/formats/*.h $S/include/vldoc/*.h; do
    [ "$f" -nt "$bin" ] && stale=1
  done
fi
if [ $stale -eq 1 ]; then
  # shellcheck disable=SC2086
  if ! "$CLANG" -fsanitize=fuzzer,address,undefined -g -O1 \
      -I"$S/include" -I"$B/include" -I"$S/lib" -I"$B" \
      $(pkg-config --cflags libxml-2.0 json-c) $srcs -o "$bin.tmp" \
      $(pkg-config --libs libxml-2.0 json-c) -lm -lpthread \
      >"$B/tests/fuzz/libfuzzer-build.log" 2>&1; then
    rm -f "$bin.tmp"
    echo "1..0 # SKIP libFuzzer build failed (clang's compiler-rt missing?)"
    exit 0
  fi
  mv "$bin.tmp" "$bin"
fi

work=$(mktemp -d "$B/tmp.fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$S"/tests/fuzz/seeds/qwenhtml/* "$work/corpus/"
echo "1..1"
# leak detection off: libFuzzer's own bookkeeping; the target checks our
# allocations itself (vd__alloc_live)
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
"$bin" -max_total_time="$secs" -seed=1 -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1 \
  "$work/corpus" >"$work/log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
if [ $rc -eq 0 ]; then
  echo "ok 1 - libFuzzer ran ${runs:-?} inputs in ${secs}s: no crash"
else
  echo "not ok 1 - libFuzzer found a failure (rc $rc)"
  grep -E 'ERROR|SUMMARY|#[0-9]+ ' "$work/log" | head -20 | sed 's/^/# /'
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
    [ -f "$f" ] && od -c "$f" | head -20 | sed 's/^/# /'
  done
  exit 1
fi
