#!/bin/sh
# vldoc generate on the shared tiny checkpoints: the text-only reference
# prompt gives HF's prompt ids, its 20 greedy ids and its text
# (--print-ids), --raw on the rendered prompt gives the same, sampling is
# reproducible by seed, and missing models, broken checkpoints and bad
# options fail with their message and exit status.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
R="$VLDOC_SHARED/refs"
PY=/usr/bin/python3
if [ ! -x $PY ]; then
  echo "1..0 # SKIP python3 not found (reads the reference safetensors)"
  exit 0
fi

# ref FILE TENSOR: the int64 tensor as space-separated ids
ref() {
  $PY - "$1" "$2" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
t = json.loads(b[8:8 + n])[sys.argv[2]]
s, e = t['data_offsets']
print(' '.join(str(v) for v in struct.unpack('<%dq' % ((e - s) // 8), b[8 + n + s:8 + n + e])))
EOF
}
# manifest FILE KEY: a string field of the shared manifest
manifest() {
  $PY - "$R/qwen25vl/manifest.json" "$1" "$2" <<'EOF'
import json, sys
sys.stdout.write(json.load(open(sys.argv[1]))['files'][sys.argv[2]][sys.argv[3]])
EOF
}

# model folders: the checkpoint plus the shared tokenizer files
for m in tiny tiny-untied; do
  mkdir -p "$T_TMP/$m"
  for f in "$R/qwen25vl/$m/checkpoint/"* "$R/tokenizer/"*; do
    [ -e "$T_TMP/$m/${f##*/}" ] || ln -s "$f" "$T_TMP/$m/"
  done
done
Q="What is the capital of France? Answer in one word."
want_prompt=$(ref "$R/qwen25vl/processor/text.safetensors" input_ids)

for m in tiny tiny-untied; do
  "$VLDOC" generate -m "$T_TMP/$m" --prompt "$Q" --max-new-tokens 20 \
    --repetition-penalty 1 --print-ids -t 2 >"$T_TMP/out" 2>"$T_TMP/err"
  ok $? "$m: generate exits 0"
  want_gen=$(ref "$R/qwen25vl/$m/text.safetensors" generated_ids)
  [ "$(sed -n 's/^prompt_ids: //p' "$T_TMP/out")" = "$want_prompt" ]
  ok $? "$m: prompt_ids are HF's input ids"
  [ "$(sed -n 's/^generated_ids: //p' "$T_TMP/out")" = "$want_gen" ]
  ok $? "$m: generated_ids are HF's 20 greedy tokens"
  manifest "$m/text.safetensors" generated_text >"$T_TMP/want"
  echo >>"$T_TMP/want"
  head -n 1 "$T_TMP/out" >"$T_TMP/got"
  cmp -s "$T_TMP/got" "$T_TMP/want"; ok $? "$m: the text is HF's decoded text"
done

# --raw with the rendered prompt: the same ids
manifest processor/text.safetensors prompt_text >"$T_TMP/prompt"
"$VLDOC" generate -m "$T_TMP/tiny" --raw --prompt-file "$T_TMP/prompt" \
  --max-new-tokens 20 --repetition-penalty 1 --print-ids -t 1 \
  >"$T_TMP/raw" 2>"$T_TMP/err"
ok $? "--raw --prompt-file exits 0"
[ "$(sed -n 's/^prompt_ids: //p' "$T_TMP/raw")" = "$want_prompt" ] &&
  [ "$(sed -n 's/^generated_ids: //p' "$T_TMP/raw")" = \
    "$(ref "$R/qwen25vl/tiny/text.safetensors" generated_ids)" ]
ok $? "--raw on the rendered prompt gives the same ids"
printf '%s' "$Q" | "$VLDOC" generate -m "$T_TMP/tiny" --prompt-file - \
  --max-new-tokens 3 --print-ids >"$T_TMP/stdin" 2>"$T_TMP/err"
[ "$(sed -n 's/^prompt_ids: //p' "$T_TMP/stdin")" = "$want_prompt" ]
ok $? "--prompt-file - reads stdin"
[ "$(sed -n 's/^generated_ids: //p' "$T_TMP/stdin" | wc -w)" -eq 3 ]
ok $? "--max-new-tokens 3 gives 3 tokens"

# sampling: the seed decides
gen_ids() {
  "$VLDOC" generate -m "$T_TMP/tiny" --prompt "$Q" --max-new-tokens 12 \
    --sample --temperature 1.5 --top-k 100 --top-p 0.95 --seed "$1" \
    --print-ids 2>/dev/null | sed -n 's/^generated_ids: //p'
}
a=$(gen_ids 7); b=$(gen_ids 7); c=$(gen_ids 8)
[ -n "$a" ] && [ "$a" = "$b" ]; ok $? "sampling with one seed repeats"
[ "$a" != "$c" ]; ok $? "another seed samples other tokens"

# -v reports timings and the stop reason
"$VLDOC" generate -m "$T_TMP/tiny" --prompt hi --max-new-tokens 2 -v \
  >/dev/null 2>"$T_TMP/err"
contains "$T_TMP/err" "stop: max_tokens" && contains "$T_TMP/err" "tok/s"
ok $? "-v prints timings and the stop reason"

# failures
HF_HOME="$T_TMP/nohome" VLDOC_MODEL= "$VLDOC" generate --prompt hi \
  >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "vldoc pull Qwen/Qwen2.5-VL-3B-Instruct"
ok $? "no model: exit 1 and how to get one (rc $rc)"
mkdir -p "$T_TMP/broken"
for f in "$T_TMP/tiny/"*; do ln -s "$f" "$T_TMP/broken/"; done
rm "$T_TMP/broken/config.json"
sed 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' \
  "$R/qwen25vl/tiny/checkpoint/config.json" >"$T_TMP/broken/config.json"
"$VLDOC" generate -m "$T_TMP/broken" --prompt hi >/dev/null \
  2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "missing tensor 'model.layers.2."
ok $? "a checkpoint short of layers: exit 1 naming the tensor"
"$VLDOC" generate -m "$T_TMP/tiny" >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ]; ok $? "no prompt is a usage error (rc $rc)"
"$VLDOC" generate -m "$T_TMP/tiny" --prompt hi --top-p 2 >/dev/null \
  2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "--top-p"; ok $? "bad --top-p is a usage error"
"$VLDOC" generate -m "$T_TMP/tiny" --prompt hi --max-pixels 50176 \
  --max-new-tokens 4 --print-ids \
  --image "$VLDOC_SHARED/corpus/layout/samplefiles_multicolumn.pdf" \
  >"$T_TMP/img.out" 2>"$T_TMP/err"; rc=$?
# the page goes through the vision tower (issue 6): its pad tokens are in
# the prompt and the generation runs
[ $rc -eq 0 ] && grep -q '^prompt_ids:.* 151652 151655 .*151655 151653 ' \
  "$T_TMP/img.out" && [ "$(grep '^generated_ids:' "$T_TMP/img.out" | wc -w)" -eq 5 ]
ok $? "--image: page 1 of a PDF through the vision tower (rc $rc)"
done_testing
