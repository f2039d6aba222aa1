#!/bin/sh
# vldoc quantize and the engine's speed options on the shared tiny
# checkpoint: a saved q8 / q4 folder generates exactly what quantizing at
# load generates (same ids), the exact path with a bf16 KV cache and the
# fast precisions run through generate and convert, the saved folder is
# smaller than the checkpoint, and bad values, a missing output folder or
# writing over the model itself fail with their message and exit status.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
R="$VLDOC_SHARED/refs"
[ -d "$R/qwen25vl/tiny/checkpoint" ] || {
  echo "1..0 # SKIP no tiny checkpoint"; exit 0; }
M="$T_TMP/tiny"
mkdir -p "$M"
for f in "$R/qwen25vl/tiny/checkpoint/"* "$R/tokenizer/"*; do
  [ -e "$M/${f##*/}" ] || ln -s "$f" "$M/"
done
P="What is the capital of France? Answer in one word."
gen() { # gen MODEL ARGS... -> the generated ids
  m=$1; shift
  "$VLDOC" generate -m "$m" --prompt "$P" --max-new-tokens 8 \
    --repetition-penalty 1 --print-ids -t 2 "$@" 2>"$T_TMP/gen.err" |
    sed -n 's/^generated_ids: //p'
}

for w in q8 q4; do
  "$VLDOC" quantize -m "$M" --weights $w -o "$T_TMP/$w" -v \
    >"$T_TMP/q.out" 2>"$T_TMP/q.err"
  ok $? "quantize --weights $w exits 0"
  [ -f "$T_TMP/$w/model.safetensors" ] && [ -f "$T_TMP/$w/tokenizer.json" ] &&
    [ -f "$T_TMP/$w/config.json" ] && [ -f "$T_TMP/$w/preprocessor_config.json" ]
  ok $? "$w: the folder holds the weights, config and tokenizer files"
  contains "$T_TMP/q.err" "text decoder quantized to $w"
  ok $? "$w: -v reports the quantization"
  a=$(gen "$M" --weights $w); b=$(gen "$T_TMP/$w")
  [ -n "$a" ] && [ "$a" = "$b" ]
  ok $? "$w: the saved folder generates what --weights $w at load does"
  c=$(gen "$T_TMP/$w" --precision int8 --kv bf16)
  [ "$(echo "$c" | wc -w)" -eq 8 ]
  ok $? "$w: --precision int8 --kv bf16 generates 8 tokens"
done
s0=$(wc -c <"$R/qwen25vl/tiny/checkpoint/model.safetensors")
s8=$(wc -c <"$T_TMP/q8/model.safetensors")
s4=$(wc -c <"$T_TMP/q4/model.safetensors")
[ "$s4" -lt "$s8" ] && [ "$s8" -lt "$s0" ]
ok $? "q4 ($s4 bytes) < q8 ($s8) < bf16 ($s0)"

# the exact path is the default; a bf16 KV cache keeps HF's greedy ids on
# this prompt, bf16 precision runs
want=$(gen "$M")
[ "$(gen "$M" --kv bf16)" = "$want" ]
ok $? "--kv bf16 keeps the exact path's tokens"
[ "$(gen "$M" --precision bf16 | wc -w)" -eq 8 ]
ok $? "--precision bf16 generates"

# convert with the options: a scanned page through the tower and decoder
"$VLDOC" -e qwen -m "$T_TMP/q4" --precision bf16 --kv bf16 -t 2 \
  --min-pixels 3136 --max-pixels 50176 --max-new-tokens 4 -f json \
  "$VLDOC_SHARED/corpus/scans/docling_ocr_test.pdf" >"$T_TMP/c.json" \
  2>"$T_TMP/c.err"; rc=$?
[ $rc -le 1 ] && grep -q '"pages"' "$T_TMP/c.json"
ok $? "convert -e qwen on the q4 folder with --precision bf16 --kv bf16 (rc $rc)"

# failures
"$VLDOC" quantize -m "$M" -o "$T_TMP/x" >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "--weights"
ok $? "quantize without --weights is a usage error (rc $rc)"
"$VLDOC" quantize -m "$M" --weights q4 >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "-o DIR"
ok $? "quantize without an output folder is a usage error (rc $rc)"
"$VLDOC" quantize -m "$M" --weights q3 -o "$T_TMP/x" >/dev/null \
  2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "bf16, q8 or q4"
ok $? "--weights q3 is a usage error (rc $rc)"
"$VLDOC" quantize -m "$M" --weights q8 -o "$M" >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "model's own folder"
ok $? "quantize into the model's own folder is refused (rc $rc)"
"$VLDOC" generate -m "$M" --prompt hi --precision fp8 >/dev/null \
  2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "exact, bf16 or int8"
ok $? "--precision fp8 is a usage error (rc $rc)"
"$VLDOC" -e qwen -m "$M" --kv f16 x.png >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "f32 or bf16"
ok $? "--kv f16 is a usage error (rc $rc)"
done_testing
