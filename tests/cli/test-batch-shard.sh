#!/bin/sh
# --shard I/N and --inputs-from: the shards of a batch are disjoint and
# together are exactly the inputs; an input's shard depends only on its
# path relative to its argument (same on another machine, another mount
# point, another input order) and is the documented hash, recomputed here
# independently.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
. "$VLDOC_SRCDIR/tests/cli/remote-lib.sh"
need_shared
need_python
PDF="$VLDOC_SHARED/corpus/layout/samplefiles_multicolumn.pdf"
P=/usr/bin/python3

# a tree of 30 inputs in 3 folders, plus one that is not a document
mkdir -p "$T_TMP/a/tree"
for d in d1 d2 d3; do
  mkdir -p "$T_TMP/a/tree/$d"
  for i in 0 1 2 3 4 5 6 7 8 9; do ln -s "$PDF" "$T_TMP/a/tree/$d/doc-$i.pdf"; done
done
printf 'junk' >"$T_TMP/a/tree/d2/zz-bad.pdf"
ALL=31

rels() { # rels MANIFEST ROOT: the inputs of a manifest, relative to ROOT
  $P -c 'import json, sys
root = sys.argv[2].rstrip("/") + "/" if sys.argv[2] else ""
for l in open(sys.argv[1]):
    i = json.loads(l)["input"]
    print(i[len(root):] if root and i.startswith(root) else i)' "$1" "$2" | sort
}

fail_any=0
for s in 0 1 2; do
  "$VLDOC" -q -f md --shard $s/3 --manifest "$T_TMP/m$s.jsonl" \
    -o "$T_TMP/out/" "$T_TMP/a/tree" 2>"$T_TMP/err$s"
  rc=$?
  [ $rc -le 1 ] || fail_any=1
  rels "$T_TMP/m$s.jsonl" "$T_TMP/a/tree" >"$T_TMP/r$s"
done
[ $fail_any -eq 0 ]; ok $? "three shards ran"
sort "$T_TMP/r0" "$T_TMP/r1" "$T_TMP/r2" >"$T_TMP/union"
(cd "$T_TMP/a/tree" && find . -name '*.pdf' | sed 's|^\./||' | sort) >"$T_TMP/expect"
cmp -s "$T_TMP/union" "$T_TMP/expect"; ok $? "the union of the shards is exactly the $ALL inputs, none twice"
[ -s "$T_TMP/r0" ] && [ -s "$T_TMP/r1" ] && [ -s "$T_TMP/r2" ]
ok $? "every shard has inputs ($(wc -l <"$T_TMP/r0") $(wc -l <"$T_TMP/r1") $(wc -l <"$T_TMP/r2"))"
n=$(find "$T_TMP/out" -name '*.md' | wc -l)
[ "$n" -eq 30 ]; ok $? "30 outputs, one per good input ($n)"
grep -l "zz-bad" "$T_TMP"/m?.jsonl | wc -l | grep -qx 1; ok $? "the bad input is recorded by one shard only"

# the documented hash, recomputed: splitmix64(fnv1a64(rel)) mod N
cat >"$T_TMP/shard.py" <<'EOF'
import sys
M = (1 << 64) - 1
def shard(rel, n):
    h = 0xcbf29ce484222325
    for b in rel.encode():
        h = ((h ^ b) * 0x100000001b3) & M
    h ^= h >> 30; h = (h * 0xbf58476d1ce4e5b9) & M
    h ^= h >> 27; h = (h * 0x94d049bb133111eb) & M
    h ^= h >> 31
    return h % n
n = int(sys.argv[1])
for s in range(n):
    for rel in open(sys.argv[2 + s]).read().split():
        if shard(rel, n) != s:
            print("%s: shard %d, expected %d" % (rel, s, shard(rel, n)))
            sys.exit(1)
EOF
$P "$T_TMP/shard.py" 3 "$T_TMP/r0" "$T_TMP/r1" "$T_TMP/r2"
ok $? "each input is in the shard the documented hash gives"

# another machine: the same tree mounted elsewhere, walked again
mkdir -p "$T_TMP/elsewhere/x"
cp -R "$T_TMP/a/tree" "$T_TMP/elsewhere/x/corpus"
"$VLDOC" -q --shard 1/3 --manifest "$T_TMP/m1b.jsonl" -o "$T_TMP/out2/" \
  "$T_TMP/elsewhere/x/corpus" 2>/dev/null
rels "$T_TMP/m1b.jsonl" "$T_TMP/elsewhere/x/corpus" >"$T_TMP/r1b"
cmp -s "$T_TMP/r1" "$T_TMP/r1b"; ok $? "same shard for the tree at another path"

# --inputs-from: listed paths, any order, from a file or stdin
(cd "$T_TMP/a" && find tree -name '*.pdf' | sort) >"$T_TMP/list"
sort -r "$T_TMP/list" >"$T_TMP/list.rev"
(cd "$T_TMP/a" && "$VLDOC" -q --shard 2/3 --manifest "$T_TMP/l1.jsonl" \
  -o "$T_TMP/out3/" --inputs-from "$T_TMP/list" 2>/dev/null)
(cd "$T_TMP/a" && "$VLDOC" -q --shard 2/3 --manifest "$T_TMP/l2.jsonl" \
  -o "$T_TMP/out4/" --inputs-from - <"$T_TMP/list.rev" 2>/dev/null)
rels "$T_TMP/l1.jsonl" "" >"$T_TMP/q1"
rels "$T_TMP/l2.jsonl" "" >"$T_TMP/q2"
[ -s "$T_TMP/q1" ] && cmp -s "$T_TMP/q1" "$T_TMP/q2"
ok $? "--inputs-from FILE and - (reversed order) give the same shard"
$P "$T_TMP/shard.py" 3 /dev/null /dev/null "$T_TMP/q1"
ok $? "a listed input's shard is the hash of its listed path"
for s in 0 1; do
  (cd "$T_TMP/a" && "$VLDOC" -q --shard $s/3 --manifest "$T_TMP/l1.jsonl" \
    -o "$T_TMP/out3/" --inputs-from "$T_TMP/list" 2>/dev/null)
done
rels "$T_TMP/l1.jsonl" "" >"$T_TMP/qall"
cmp -s "$T_TMP/qall" "$T_TMP/list"; ok $? "the listed shards together are the list"
[ -s "$T_TMP/out3/tree/d1/doc-0.md" ] && [ -s "$T_TMP/out3/tree/d3/doc-9.md" ]
ok $? "listed inputs keep their listed path under -o DIR"

# usage errors
"$VLDOC" --shard 3/3 "$PDF" >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "0 <= I < N"; ok $? "--shard 3/3 is a usage error"
"$VLDOC" --shard x "$PDF" >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ]; ok $? "--shard x is a usage error"
"$VLDOC" --inputs-from "$T_TMP/nope" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "--inputs-from"; ok $? "a missing list is named"
done_testing
