#!/bin/sh
# vldoc render: the page images the model sees, written as PNG, with their
# size, tokens and DPI printed; page selection, --native and --dpi, the
# budget options, encrypted files and usage errors.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
C="$VLDOC_SHARED/corpus"
command -v identify >/dev/null 2>&1 || {
  echo "1..0 # SKIP ImageMagick identify not installed"
  exit 0
}
size() { identify -format '%w %h' "$1" 2>/dev/null; }

"$VLDOC" render --help >"$T_TMP/help"; ok $? "render --help exits 0"
contains "$T_TMP/help" "--native"; ok $? "--help documents --native"
"$VLDOC" render "$C/forms/funsd_00040534.png" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 2 ] && contains "$T_TMP/err" "-o DIR/"; ok $? "no -o is a usage error (rc $rc)"
"$VLDOC" render -o "$T_TMP/x" 2>/dev/null; [ $? -eq 2 ]; ok $? "no input is a usage error"

# an image: its model size, a multiple of 28, as printed
"$VLDOC" render -o "$T_TMP/o" "$C/forms/funsd_00040534.png" >"$T_TMP/out"; rc=$?
[ $rc -eq 0 ] && [ -s "$T_TMP/o/funsd_00040534-p1.png" ]; ok $? "PNG page written (rc $rc)"
s=$(size "$T_TMP/o/funsd_00040534-p1.png")
contains "$T_TMP/out" "page 1: ${s% *} x ${s#* } px"; ok $? "printed size is the file's ($s)"
[ $(( ${s% *} % 28 )) -eq 0 ] && [ $(( ${s#* } % 28 )) -eq 0 ]; ok $? "sides are multiples of 28"
contains "$T_TMP/out" "$(( ${s% *} / 28 * (${s#* } / 28) )) tokens"; ok $? "token count printed"

# the reference image with the processor's published budget: 308 x 196
"$VLDOC" render -q --min-pixels 3136 --max-pixels 12845056 -o "$T_TMP/r" \
  "$VLDOC_SHARED/refs/qwen25vl/images/img_a_300x200.png"
[ "$(size "$T_TMP/r/img_a_300x200-p1.png")" = "308 196" ]; ok $? "img_a at the processor budget is 308 x 196"

# a PDF: pages, --native --dpi
P="$C/hostile/page-geometry/pdfjs_hello_world_rotated_5pages.pdf"
"$VLDOC" render -q --pages 2,4 -o "$T_TMP/p" "$P"; rc=$?
[ $rc -eq 0 ] && [ -e "$T_TMP/p/pdfjs_hello_world_rotated_5pages-p2.png" ] &&
  [ -e "$T_TMP/p/pdfjs_hello_world_rotated_5pages-p4.png" ] &&
  [ ! -e "$T_TMP/p/pdfjs_hello_world_rotated_5pages-p1.png" ]; ok $? "--pages 2,4 writes just those"
"$VLDOC" render --native --dpi 36 --pages 1 -o "$T_TMP/n" "$P" >"$T_TMP/out"
[ "$(size "$T_TMP/n/pdfjs_hello_world_rotated_5pages-p1.png")" = "396 306" ]; ok $? "--native --dpi 36: 792 x 612 pt -> 396 x 306 px"
contains "$T_TMP/out" "at 36.0 dpi"; ok $? "chosen DPI printed"
"$VLDOC" render -v --pages 1 -o "$T_TMP/v" "$C/scans/docling_ocr_test.pdf" >"$T_TMP/out" 2>/dev/null
contains "$T_TMP/out" "native raster 4960 x 7016 px at 600.0"; ok $? "-v: a scan's native raster and DPI"
contains "$T_TMP/out" "resampled from the native raster"; ok $? "-v: a scan is resampled once"
"$VLDOC" render -v -o "$T_TMP/v" "$C/invoices/invoice2data_AmazonWebServices.pdf" >"$T_TMP/out" 2>/dev/null
contains "$T_TMP/out" "rendered at this size"; ok $? "born-digital page drawn at the model size"

# a multi-page TIFF
"$VLDOC" render -q --pages 2- -o "$T_TMP/t" "$C/tiff/multipage_3pages_pillow.tiff"; rc=$?
[ $rc -eq 0 ] && [ -e "$T_TMP/t/multipage_3pages_pillow-p3.png" ] &&
  [ ! -e "$T_TMP/t/multipage_3pages_pillow-p1.png" ]; ok $? "TIFF pages 2- (rc $rc)"

# errors: encrypted, missing, corrupt
E="$C/hostile/encrypted/pypdf_aes128_R4_user-asdfzxcv.pdf"
"$VLDOC" render -o "$T_TMP/e" "$E" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "password"; ok $? "encrypted without password: exit 1 with a hint"
"$VLDOC" render -q --password asdfzxcv -o "$T_TMP/e" "$E"; rc=$?
[ $rc -eq 0 ] && [ -e "$T_TMP/e/pypdf_aes128_R4_user-asdfzxcv-p1.png" ]; ok $? "--password opens it (rc $rc)"
"$VLDOC" render -o "$T_TMP/m" "$T_TMP/nope.pdf" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "nope.pdf"; ok $? "missing file named, exit 1"
"$VLDOC" render -o "$T_TMP/h" "$C/hostile/malformed-tiff/pillow_fuzz-crash-1152ec2d1a1a71395b6f2ce6721c3.tif" 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "page 1:"; ok $? "corrupt TIFF page: clear error, exit 1"
ls -a "$T_TMP/o" | grep -q vldoc-; [ $? -ne 0 ]; ok $? "no temp files left behind"
done_testing
