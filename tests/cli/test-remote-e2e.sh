#!/bin/sh
# End to end over loopback: `vldoc serve` runs the tiny reference
# checkpoint; `vldoc --engine remote` sends it pages; the documents must be
# exactly those `vldoc --engine qwen` makes locally from the same pages
# (same image pixels, same prompt, greedy decoding), token counts too.
# Skips until the local qwen engine is built.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
. "$VLDOC_SRCDIR/tests/cli/remote-lib.sh"
need_shared
need_remote
need_serve
need_python
REFS="$VLDOC_SHARED/refs"
C="$VLDOC_SHARED/corpus"
[ -f "$REFS/qwen25vl/tiny/checkpoint/model.safetensors" ] ||
  skip_all "no tiny reference checkpoint in $REFS/qwen25vl/tiny"

# the checkpoint and the tokenizer in one folder, as users download them
M="$T_TMP/tiny"
mkdir -p "$M"
for f in "$REFS"/qwen25vl/tiny/checkpoint/*; do ln -s "$f" "$M/"; done
for f in tokenizer.json tokenizer_config.json vocab.json merges.txt; do
  ln -s "$REFS/tokenizer/$f" "$M/$f"
done
TOK=24

IMG="$REFS/qwen25vl/images/img_a_300x200.png"
# (the tiny model's text is noise: it always runs to the token limit,
# which is a page error, so the exit status is 1 on both sides)
"$VLDOC" -q --engine qwen -m "$M" --max-new-tokens $TOK -f qwenvl "$IMG" \
  >"$T_TMP/probe.html" 2>"$T_TMP/probe"
if ! [ -s "$T_TMP/probe.html" ]; then
  skip_all "the local qwen engine (--engine qwen) does not run yet: $(head -1 "$T_TMP/probe")"
fi

export TMPDIR="$T_TMP"
start_serve "$T_TMP/serve.log" -m "$M" --served-model-name tiny --timeout 300 ||
  skip_all "vldoc serve did not start: $(cat "$T_TMP/serve.log")"
REMOTE="--engine remote --endpoint $SERVE_URL/v1 --image-format png"

# inputs: the reference images, a born-digital PDF page, a scanned page,
# and a TIFF when this build reads one
set -- "$IMG" "$REFS/qwen25vl/images/img_b_900x1200.png" \
  "$C/layout/samplefiles_multicolumn.pdf" "$C/scans/docling_nemotron_multipage.pdf"
for f in "$C"/tiff/*.tif; do [ -f "$f" ] && { set -- "$@" "$f"; break; }; done
for f in "$@"; do
  b=$(basename "$f")
  "$VLDOC" -v --engine qwen -m "$M" --max-new-tokens $TOK --pages 1 -f json \
    "$f" >"$T_TMP/$b.local.json" 2>"$T_TMP/$b.local.err"; rl=$?
  "$VLDOC" -v $REMOTE --max-new-tokens $TOK --pages 1 -f json \
    "$f" >"$T_TMP/$b.remote.json" 2>"$T_TMP/$b.remote.err"; rr=$?
  [ $rl -eq $rr ] && [ -s "$T_TMP/$b.local.json" ] &&
    same_doc "$T_TMP/$b.local.json" "$T_TMP/$b.remote.json"
  ok $? "$b: remote through vldoc serve equals --engine qwen (rc $rl/$rr)"
  tl=$(grep -o '[0-9]* prompt + [0-9]* generated tokens' "$T_TMP/$b.local.err")
  tr=$(grep -o '[0-9]* prompt + [0-9]* generated tokens' "$T_TMP/$b.remote.err")
  [ -n "$tl" ] && [ "$tl" = "$tr" ]; ok $? "$b: same token counts ($tl / $tr)"
done

# the raw HTML too, for several pages in flight at once
"$VLDOC" -q --engine qwen -m "$M" --max-new-tokens $TOK --pages 1-3 -f qwenvl \
  "$C/scans/docling_nemotron_multipage.pdf" >"$T_TMP/local.html" 2>/dev/null
"$VLDOC" -q $REMOTE --jobs 3 --max-new-tokens $TOK --pages 1-3 -f qwenvl \
  "$C/scans/docling_nemotron_multipage.pdf" >"$T_TMP/remote.html" 2>/dev/null
[ -s "$T_TMP/local.html" ] && cmp -s "$T_TMP/local.html" "$T_TMP/remote.html"
ok $? "three pages in flight: the same QwenVL HTML, in order"

kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; rc=$?
[ $rc -eq 0 ] && ! grep -q "Sanitizer" "$T_TMP/serve.log"
ok $? "vldoc serve exits cleanly (rc $rc)"
done_testing
