#!/bin/sh
# --engine qwen end to end on the tiny reference checkpoint: a real scanned
# PDF page and a real TIFF scan from the shared corpus go through the
# rasterizer, the vision tower, the prompt, generation and every writer.
# The tiny model's text is meaningless, so this checks what is
# deterministic: model image sizes (the page maps), prompt and generated
# token counts, the limits (max new tokens, page time limit) marking the
# page and the exit status, auto picking qwen when a model is configured,
# a valid document in every format; and through `vldoc generate --image`,
# HF's exact greedy tokens for reference images.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
R="$VLDOC_SHARED/refs/qwen25vl"
C="$VLDOC_SHARED/corpus"
[ -d "$R/tiny/checkpoint" ] || { echo "1..0 # SKIP no tiny checkpoint"; exit 0; }

# a loadable model folder: the checkpoint plus the shared tokenizer files
M="$T_TMP/model"
mkdir -p "$M"
for f in "$R"/tiny/checkpoint/* "$VLDOC_SHARED"/refs/tokenizer/*; do
  [ -e "$M/${f##*/}" ] || ln -s "$f" "$M/"
done
PDF="$C/scans/docling_ocr_test.pdf"                    # image-only page
TIF="$C/scans/ocrd_kant_aufklaerung_1784_p0017.tif"    # RGB book scan
# a small budget keeps the tiny tower fast: 256 image tokens at most
Q="--engine qwen -m $M --min-pixels 3136 --max-pixels 200704"

# prompt = image tokens + 26: the default system turn, "QwenVL HTML ",
# vision start/end, the turn markers and the assistant opener
check_page() { # check_page ERRFILE PAGE W H GEN
  line=$(grep "page $2: engine qwen, model image $3x$4," "$1")
  want=$(( $3 * $4 / 784 + 26 ))
  echo "$line" | grep -q ", $want prompt + $5 generated tokens"
}

# scanned PDF page: 4961 x 7017 px at 600 dpi -> smart resize at
# max_pixels 200704 -> 364 x 532 (HF's algorithm; 247 image tokens)
"$VLDOC" -v $Q --max-new-tokens 12 -f json "$PDF" >"$T_TMP/pdf.json" \
  2>"$T_TMP/pdf.err"; rc=$?
[ $rc -eq 1 ]; ok $? "PDF: a page cut at max new tokens is a page error (rc $rc)"
check_page "$T_TMP/pdf.err" 1 364 532 12
ok $? "PDF: model image 364x532, 273 prompt + 12 generated tokens"
contains "$T_TMP/pdf.err" "page 1: output cut at the limit of 12 new tokens"
ok $? "PDF: the cut is reported with file and page"
grep -q '"kind":"paragraph"' "$T_TMP/pdf.json" && ! grep -q '"error"' "$T_TMP/pdf.json"
ok $? "PDF: the generated text is kept as the page's content"
grep -q "encode [0-9.]* s, prefill [0-9.]* s, decode [0-9.]* s" "$T_TMP/pdf.err"
ok $? "PDF: verbose mode times encode, prefill and decode"

# TIFF scan, every format; auto picks qwen when VLDOC_MODEL is set
for fmt in md json html text jsonl qwenvl; do
  VLDOC_MODEL="$M" "$VLDOC" -v --min-pixels 3136 --max-pixels 200704 \
    --max-new-tokens 6 -f $fmt "$TIF" >"$T_TMP/tif.$fmt" 2>"$T_TMP/tif.$fmt.err"
  rc=$?
  if contains "$T_TMP/tif.$fmt.err" "unknown format"; then
    skip "format $fmt not built yet"
    continue
  fi
  ok=1
  [ $rc -eq 1 ] && [ -s "$T_TMP/tif.$fmt" ] && check_page "$T_TMP/tif.$fmt.err" 1 364 532 6 && ok=0
  case $fmt in
  json) if command -v jq >/dev/null; then jq -e '.pages[0].page == 1' "$T_TMP/tif.json" >/dev/null || ok=1; fi ;;
  jsonl) if command -v jq >/dev/null; then jq -e . "$T_TMP/tif.jsonl" >/dev/null || ok=1; fi ;;
  html) if command -v xmllint >/dev/null; then xmllint --html --noout "$T_TMP/tif.html" 2>/dev/null || ok=1; fi ;;
  esac
  ok $ok "TIFF -f $fmt: auto picks qwen, 364x532, 6 tokens, valid output (rc $rc)"
done

# two inputs in one run: the engine frees its KV cache between pages and
# the second page, the same scan, must come out token for token the same
ln -s "$TIF" "$T_TMP/again.tif"
mkdir -p "$T_TMP/two"
"$VLDOC" $Q --max-new-tokens 6 -f qwenvl -o "$T_TMP/two/" "$TIF" \
  "$T_TMP/again.tif" 2>"$T_TMP/two.err"
first="$T_TMP/two/$(basename "$TIF" .tif).qwenvl.html"
[ -s "$first" ] && cmp -s "$first" "$T_TMP/two/again.qwenvl.html"
ok $? "two inputs in one run: the second page's output equals the first's"

# the page time limit: hit in the vision encoder, the page fails cleanly
"$VLDOC" $Q --page-timeout 0.000001 -f json "$TIF" >"$T_TMP/to.json" \
  2>"$T_TMP/to.err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/to.err" "page 1: vision encoder: page time limit reached"
ok $? "--page-timeout: page error naming the file and page (rc $rc)"
contains "$T_TMP/to.json" '"error"'; ok $? "--page-timeout: the page is marked failed"

# several inputs in one run: each page gets its own budget
"$VLDOC" -v $Q --max-new-tokens 3 -f md "$TIF" "$PDF" >"$T_TMP/two.md" \
  2>"$T_TMP/two.err"; rc=$?
n=$(grep -c "engine qwen, .* 3 generated tokens" "$T_TMP/two.err")
[ $rc -eq 1 ] && [ "$n" -eq 2 ]; ok $? "two inputs, each page cut at 3 tokens ($n pages)"

# vldoc generate --image: the exact greedy tokens of HF's reference run
# (prompt [image, question], 20 new tokens, no repetition penalty)
mget() { # mget FILE KEY: a string field of manifest.json
  if command -v jq >/dev/null; then
    jq -r ".files[\"$1\"].$2" "$R/manifest.json"
  else
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['files'][sys.argv[2]][sys.argv[3]])" \
      "$R/manifest.json" "$1" "$2"
  fi
}
for c in tiny:img_c:img_c_56x56.png tiny-untied:img_a:img_a_300x200.png; do
  ck=${c%%:*}; rest=${c#*:}; case=${rest%%:*}; img=${rest#*:}
  G="$T_TMP/model-$ck"
  mkdir -p "$G"
  for f in "$R/$ck"/checkpoint/* "$VLDOC_SHARED"/refs/tokenizer/*; do
    [ -e "$G/${f##*/}" ] || ln -s "$f" "$G/"
  done
  q=$(mget "processor/$case.safetensors" question 2>/dev/null)
  want=$(mget "$ck/$case.safetensors" generated_text 2>/dev/null)
  seq=$(mget "processor/$case.safetensors" seq_len 2>/dev/null)
  if [ -z "$q" ] || [ -z "$want" ]; then
    skip "$ck/$case: no jq or python3 to read manifest.json"
    continue
  fi
  "$VLDOC" generate -m "$G" --image "$R/images/$img" --prompt "$q" \
    --max-new-tokens 20 --print-ids >"$T_TMP/gen.out" 2>"$T_TMP/gen.err"
  rc=$?
  np=$(grep '^prompt_ids:' "$T_TMP/gen.out" | wc -w)
  ng=$(grep '^generated_ids:' "$T_TMP/gen.out" | wc -w)
  got=$(sed '/^prompt_ids:/,$d' "$T_TMP/gen.out")
  [ $rc -eq 0 ] && [ "$got" = "$want" ] && [ "$np" -eq $((seq + 1)) ] &&
    [ "$ng" -eq 21 ]
  ok $? "generate --image $ck/$case: HF's 20 greedy tokens, $seq prompt tokens (rc $rc)"
done

# a missing model says how to get one
"$VLDOC" --engine qwen -m "$T_TMP/nope" "$TIF" >/dev/null 2>"$T_TMP/nm.err"; rc=$?
[ $rc -eq 1 ] && grep -qi "model" "$T_TMP/nm.err"; ok $? "missing model: clear error (rc $rc)"

done_testing
