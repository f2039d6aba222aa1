#!/bin/sh
# The engine's reference tests (text decoder, vision tower, multimodal
# generation against Hugging Face, bf16 weights, exact precision) again on
# every kernel level below the CPU's best - VLDOC_ISA=ref (scalar, with
# OpenBLAS for long exact products), avx2, avx512 - since `make check`
# runs them once at the best level. Also the fast modes' test at the AVX2
# level, whose int8 kernels differ from the VNNI ones. One TAP line per
# program and level: it passes when the program exits 0 with no failed
# line.
: "${VLDOC_BUILDDIR:=.}"
B=$VLDOC_BUILDDIR
if [ -z "${VLDOC_SHARED:-}" ] || [ ! -d "$VLDOC_SHARED/refs/qwen25vl" ]; then
  echo "1..0 # SKIP VLDOC_SHARED does not hold refs/qwen25vl"
  exit 0
fi
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { for f in "$@"; do echo " $flags " | grep -q " $f " || return 1; done; }
best=ref
has avx2 fma f16c && best=avx2
[ $best = avx2 ] && has avx512f avx512bw avx512vl avx512dq && best=avx512
[ $best = avx512 ] && has avx512_bf16 avx512_vnni && best=avx512bf16

n=0
fail=0
tmp=$(mktemp -d "$B/tmp.isa.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
run() { # run ISA PROGRAM
  n=$((n + 1))
  (cd "$tmp" && VLDOC_ISA=$1 "$B/tests/refs/$2" >out 2>err)
  rc=$?
  total=$(grep -c '^ok' "$tmp/out")
  bad=$(grep -c '^not ok' "$tmp/out")
  if [ $rc -eq 0 ] && [ "$bad" -eq 0 ] && [ "$total" -gt 0 ]; then
    echo "ok $n - VLDOC_ISA=$1 $2: $total passed"
  else
    echo "not ok $n - VLDOC_ISA=$1 $2: exit $rc, $bad of $((total + bad)) failed"
    grep '^not ok' "$tmp/out" | head -5 | sed 's/^/#   /'
    tail -3 "$tmp/err" | sed 's/^/#   /'
    fail=$((fail + 1))
  fi
}
for isa in ref avx2 avx512; do
  [ $isa = $best ] && break
  for t in test-qwen-text test-qwen-vision test-qwen-mm; do
    run $isa $t
  done
  [ $isa = avx2 ] && run avx2 test-qwen-fast
done
[ $n -eq 0 ] && echo "# the CPU's best level is the plain reference: make check ran it"
echo "1..$n"
[ $fail -eq 0 ]
