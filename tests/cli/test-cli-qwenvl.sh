#!/bin/sh
# vldoc -i qwenvl: QwenVL HTML from elsewhere through the pass-through
# engine: sizes from --image-size / --image, boxes mapped to the image,
# format sniffing, plain HTML without boxes, every -f writer, furniture,
# section chunks and clear errors.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
Q="$VLDOC_SHARED/corpus/qwenvl-html"
V2="$Q/qwen25vl_cookbook-v2_techreport.output.html"
PY=/usr/bin/python3
G="$VLDOC_SRCDIR/tests/golden/qwenvl"

# --image-size: the image sent to the model (1014x1532), smart-resized to
# the model's 1008x1540; boxes map back as x*1014/1008, y*1532/1540
"$VLDOC" -q -i qwenvl --image-size 1014x1532 -f json "$V2" >"$T_TMP/v2.json"
ok $? "-i qwenvl --image-size converts (rc 0)"
"$PY" - "$T_TMP/v2.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = d["pages"][0]
b = p["blocks"][0]
assert p["engine"] == "html" and p["unit"] == "px", p
assert (p["width"], p["height"]) == (1014, 1532), p
assert (p["model_width"], p["model_height"]) == (1008, 1540), p
assert b["bbox_model"] == [310, 94, 658, 132], b
want = [310 * 1014 / 1008, 94 * 1532 / 1540, 658 * 1014 / 1008,
        132 * 1532 / 1540]
assert all(abs(x - y) < 0.006 for x, y in zip(b["bbox"], want)), b
PYEOF
ok $? "boxes mapped to the image as the cookbook maps them"

# --image reads the size from the image's header (needs its decoder)
"$VLDOC" -q -i qwenvl --image "$Q/qwen25vl_cookbook-v2_techreport.input.jpg" \
  -f json "$V2" >"$T_TMP/img.json" 2>"$T_TMP/err"; rc=$?
if grep -q "not supported by this build" "$T_TMP/err"; then
  skip "--image: no JPEG decoder in this build yet"
else
  [ $rc -eq 0 ] && cmp -s "$T_TMP/img.json" "$T_TMP/v2.json"
  ok $? "--image gives the same result as --image-size (rc $rc)"
fi
"$VLDOC" -q -i qwenvl --image "$T_TMP/missing.png" "$V2" >/dev/null \
  2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && grep -q "missing.png" "$T_TMP/err"
ok $? "a missing --image is a clear error (rc $rc)"

# sniffed without -i; without a size boxes stay in model pixels
"$VLDOC" -q -f json "$V2" >"$T_TMP/sniff.json"; rc=$?
[ $rc -eq 0 ] && grep -q '"engine":"html"' "$T_TMP/sniff.json" &&
  ! grep -q '"model_width"' "$T_TMP/sniff.json" &&
  grep -q '"bbox":\[310,94,658,132\]' "$T_TMP/sniff.json"
ok $? "QwenVL HTML is recognised without -i; no size: model pixels"

# a plain HTML answer without data-bbox converts, flagged
B="$Q/qwen25vl_cookbook_plain-html_baidu-screenshot_truncated.output.html"
"$VLDOC" -i qwenvl -f json "$B" >"$T_TMP/plain.json" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 0 ] && grep -q '"no_boxes"' "$T_TMP/plain.json" &&
  grep -q "no data-bbox" "$T_TMP/err" && grep -q '百度为您找到以下结果' \
  "$T_TMP/plain.json"
ok $? "plain HTML without boxes converts, flagged and warned (rc $rc)"

# every writer; qwenvl gives the model's HTML back as it was
for f in md json html text jsonl qwenvl; do
  "$VLDOC" -q -i qwenvl --image-size 1014x1532 -f $f "$V2" \
    >"$T_TMP/out.$f"; rc=$?
  [ $rc -eq 0 ] && [ -s "$T_TMP/out.$f" ]
  ok $? "-f $f writes output (rc $rc)"
done
{ cat "$V2"; echo; } | cmp -s - "$T_TMP/out.qwenvl"
ok $? "-f qwenvl returns the engine's HTML unchanged"
grep -q '^## Abstract$' "$T_TMP/out.md"
ok $? "Markdown has the heading"

# furniture: "Page 1 of 1" at the foot is a page number
"$VLDOC" -q -i qwenvl --image-size 812x1148 "$G/invoice.in" >"$T_TMP/inv.md"
"$VLDOC" -q -i qwenvl --image-size 812x1148 --keep-furniture "$G/invoice.in" \
  >"$T_TMP/inv-keep.md"
! grep -q "Page 1 of 1" "$T_TMP/inv.md" && grep -q "Page 1 of 1" \
  "$T_TMP/inv-keep.md"
ok $? "page numbers left out of Markdown unless --keep-furniture"

# chunks: blocks by default, heading sections with --chunk section
"$VLDOC" -q -i qwenvl -f jsonl --chunk section "$G/report-2pages.in" \
  >"$T_TMP/sec.jsonl"; rc=$?
"$PY" - "$T_TMP/sec.jsonl" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
chunks = [r for r in recs if r["type"] == "chunk"]
assert all(r["kind"] == "section" for r in chunks), chunks
paths = [r["heading_path"] for r in chunks]
assert ["Annual Report", "1. Overview", "1.1 Regions"] in paths, paths
assert any(r.get("last_page") == 2 for r in chunks) or len(chunks) >= 4
PYEOF
ok $? "--chunk section: one record per heading section with its path"

# a directory of answers converts into a directory of outputs
mkdir -p "$T_TMP/in"
cp "$V2" "$T_TMP/in/a.html"
cp "$G/tables.in" "$T_TMP/in/b.html"
"$VLDOC" -q -i qwenvl -f json -o "$T_TMP/out/" "$T_TMP/in"; rc=$?
[ $rc -eq 0 ] && [ -s "$T_TMP/out/a.json" ] && [ -s "$T_TMP/out/b.json" ]
ok $? "a directory of QwenVL HTML files converts (rc $rc)"

"$VLDOC" -q -i qwenvl --image-size 10x99999 "$V2" >/dev/null 2>"$T_TMP/err"
rc=$?
[ $rc -eq 1 ] && grep -q "image size 10x99999" "$T_TMP/err"
ok $? "an impossible image size is refused with a reason (rc $rc)"
done_testing
