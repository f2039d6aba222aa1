#!/bin/sh
# tools/gen-checkpoint: random checkpoints in the hub layout for the shared
# tiny configs load and generate; sharding writes an index that covers
# every tensor; tied models carry no lm_head; the same seed gives the same
# bytes and another seed other bytes.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
R="$VLDOC_SHARED/refs"
GEN="${VLDOC_BUILDDIR:-.}/tools/gen-checkpoint"
[ -x "$GEN" ] || { echo "1..0 # SKIP tools/gen-checkpoint not built"; exit 0; }

"$GEN" --seed 5 --shard-size 4000000 --tokenizer "$R/tokenizer" \
  "$R/qwen25vl/tiny/checkpoint/config.json" "$T_TMP/a" 2>"$T_TMP/err"
ok $? "tiny config: gen-checkpoint exits 0"
n=$(ls "$T_TMP/a"/model-*-of-*.safetensors 2>/dev/null | wc -l)
[ "$n" -ge 2 ] && [ -f "$T_TMP/a/model.safetensors.index.json" ]
ok $? "small shards: $n shard files and an index"
! grep -q '"lm_head.weight"' "$T_TMP/a/model.safetensors.index.json"
ok $? "tied embeddings: no lm_head.weight stored"
"$VLDOC" generate -m "$T_TMP/a" --prompt "Hello" --max-new-tokens 4 \
  --print-ids >"$T_TMP/out" 2>"$T_TMP/err"
ok $? "the generated checkpoint loads and generates"
[ "$(sed -n 's/^generated_ids: //p' "$T_TMP/out" | wc -w)" -eq 4 ]
ok $? "4 tokens generated"

"$GEN" --seed 5 --shard-size 4000000 \
  "$R/qwen25vl/tiny/checkpoint/config.json" "$T_TMP/b" 2>/dev/null
same=0
for f in "$T_TMP/a"/model-*.safetensors; do
  cmp -s "$f" "$T_TMP/b/${f##*/}" || same=1
done
[ $same -eq 0 ]; ok $? "same seed: identical shards"
"$GEN" --seed 6 "$R/qwen25vl/tiny-untied/checkpoint/config.json" \
  "$T_TMP/c" 2>/dev/null
ok $? "tiny-untied config, one file"
[ -f "$T_TMP/c/model.safetensors" ] &&
  [ ! -f "$T_TMP/c/model.safetensors.index.json" ]
ok $? "under the shard size: a single model.safetensors"
grep -q '"lm_head.weight"' "$T_TMP/c/model.safetensors"
ok $? "untied: lm_head.weight stored"
for f in tokenizer.json tokenizer_config.json; do ln -s "$R/tokenizer/$f" "$T_TMP/c/"; done
"$VLDOC" generate -m "$T_TMP/c" --prompt "Hi" --max-new-tokens 2 \
  >/dev/null 2>"$T_TMP/err"
ok $? "the untied checkpoint loads and generates"
"$GEN" --seed 7 "$R/qwen25vl/tiny-untied/checkpoint/config.json" \
  "$T_TMP/d" 2>/dev/null
! cmp -s "$T_TMP/c/model.safetensors" "$T_TMP/d/model.safetensors"
ok $? "another seed: other weights"
"$GEN" "$T_TMP/nope.json" "$T_TMP/e" 2>"$T_TMP/err"; rc=$?
[ $rc -ne 0 ] && contains "$T_TMP/err" "nope.json"
ok $? "a missing config is named"
done_testing
