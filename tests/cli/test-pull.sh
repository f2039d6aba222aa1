#!/bin/sh
# vldoc pull against a loopback stand-in for the Hugging Face hub
# (tests/cli/hub-server.py) serving the shared tiny checkpoint: the cache
# layout huggingface_hub uses, a model that then loads by its repo id, a
# download cut off mid-file that resumes with a Range request, a partial
# file from an earlier run that resumes, a corrupted file caught by its
# SHA-256, a gated repository and HF_TOKEN.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
need_shared
PY=/usr/bin/python3
[ -x $PY ] || { echo "1..0 # SKIP python3 not found (runs the test hub)"; exit 0; }
R="$VLDOC_SHARED/refs"
mkdir -p "$T_TMP/files"
for f in "$R/qwen25vl/tiny/checkpoint/"* "$R/tokenizer/tokenizer.json" \
  "$R/tokenizer/tokenizer_config.json"; do
  ln -s "$f" "$T_TMP/files/"
done
$PY "$VLDOC_SRCDIR/tests/cli/hub-server.py" --files "$T_TMP/files" \
  --port-file "$T_TMP/port" --log "$T_TMP/log" &
SRV=$!
trap 'kill $SRV 2>/dev/null; rm -rf "$T_TMP"' EXIT
i=0
while [ ! -s "$T_TMP/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$T_TMP/port" ] || { echo "1..0 # SKIP the test hub did not start"; exit 0; }
export HF_ENDPOINT="http://127.0.0.1:$(cat "$T_TMP/port")"
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_CACHE HUGGINGFACE_HUB_CACHE \
  HF_TOKEN_PATH VLDOC_MODEL
COMMIT=0123456789abcdef0123456789abcdef01234567
SHA=$(sha256sum "$T_TMP/files/model.safetensors" | cut -d' ' -f1)

export HF_HOME="$T_TMP/hf1"
"$VLDOC" pull test/tiny >"$T_TMP/out" 2>"$T_TMP/err"; rc=$?
if [ $rc -ne 0 ] && contains "$T_TMP/err" "without libcurl"; then
  echo "1..0 # SKIP built without libcurl"; exit 0
fi
ok $rc "pull test/tiny exits 0"
D="$HF_HOME/hub/models--test--tiny"
[ "$(cat "$T_TMP/out")" = "$D/snapshots/$COMMIT" ]
ok $? "prints the snapshot folder"
[ -L "$D/snapshots/$COMMIT/model.safetensors" ] &&
  [ "$(readlink "$D/snapshots/$COMMIT/model.safetensors")" = "../../blobs/$SHA" ]
ok $? "weights linked from the snapshot to blobs/SHA256 (huggingface_hub layout)"
cmp -s "$D/blobs/$SHA" "$T_TMP/files/model.safetensors"
ok $? "the blob is the served file"
[ "$(cat "$D/refs/main")" = "$COMMIT" ]; ok $? "refs/main names the commit"
n=$(ls "$D/snapshots/$COMMIT" | wc -l)
[ "$n" -eq "$(ls "$T_TMP/files" | wc -l)" ]; ok $? "every listed file is there ($n)"
grep -q "GET /cdn/tiny/model.safetensors" "$T_TMP/log"
ok $? "LFS files followed the redirect to the CDN"
"$VLDOC" generate -m test/tiny --prompt "What is the capital of France?" \
  --max-new-tokens 5 --repetition-penalty 1 --print-ids >"$T_TMP/g1" 2>&1
ok $? "the pulled model loads by its repo id"
"$VLDOC" generate -m "$T_TMP/files" --prompt "What is the capital of France?" \
  --max-new-tokens 5 --repetition-penalty 1 --print-ids >"$T_TMP/g2" 2>&1
cmp -s "$T_TMP/g1" "$T_TMP/g2"; ok $? "and generates what the original does"
: >"$T_TMP/log"
"$VLDOC" pull test/tiny >/dev/null 2>&1
ok $? "a second pull exits 0"
! grep -q "resolve\|/cdn/" "$T_TMP/log"; ok $? "and downloads nothing again"

# cut off half way: the client retries from where it stopped
: >"$T_TMP/log"
"$VLDOC" pull -v test/tiny-interrupt >/dev/null 2>"$T_TMP/err"
ok $? "a download cut off mid-file completes"
grep -q "GET /cdn/tiny-interrupt/model.safetensors range=bytes=[1-9]" "$T_TMP/log"
ok $? "it resumed with a Range request"
cmp -s "$HF_HOME/hub/models--test--tiny-interrupt/blobs/$SHA" \
  "$T_TMP/files/model.safetensors"
ok $? "the resumed file is whole"

# a partial file from an earlier run is continued, not restarted
export HF_HOME="$T_TMP/hf2"
B="$HF_HOME/hub/models--test--tiny/blobs"
mkdir -p "$B"
head -c 1000000 "$T_TMP/files/model.safetensors" >"$B/$SHA.incomplete"
: >"$T_TMP/log"
"$VLDOC" pull test/tiny >/dev/null 2>"$T_TMP/err"
ok $? "pull with a partial file from an earlier run"
grep -q "/cdn/tiny/model.safetensors range=bytes=1000000-" "$T_TMP/log"
ok $? "it asked for the rest only"
cmp -s "$B/$SHA" "$T_TMP/files/model.safetensors" && [ ! -e "$B/$SHA.incomplete" ]
ok $? "the completed file is checked and in place"

# corrupted in transfer: caught, removed, nothing linked
export HF_HOME="$T_TMP/hf3"
"$VLDOC" pull test/tiny-corrupt >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "model.safetensors: SHA-256"
ok $? "a corrupted file fails the pull naming the file (rc $rc)"
C="$HF_HOME/hub/models--test--tiny-corrupt"
[ -z "$(ls "$C/blobs" | grep -e "$SHA" -e incomplete)" ] &&
  [ ! -e "$C/snapshots/$COMMIT/model.safetensors" ]
ok $? "the bad download is removed and not linked"

# gated: 401 says what to do; HF_TOKEN or the token file opens it
export HF_HOME="$T_TMP/hf4"
"$VLDOC" pull test/tiny-gated >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "HTTP 401" && contains "$T_TMP/err" "HF_TOKEN"
ok $? "gated without a token: 401 and a hint (rc $rc)"
HF_TOKEN=secret-token "$VLDOC" pull test/tiny-gated >/dev/null 2>"$T_TMP/err"
ok $? "HF_TOKEN opens it"
grep -q "GET /test/tiny-gated/resolve/.* auth=yes" "$T_TMP/log"
ok $? "the token was sent"
export HF_HOME="$T_TMP/hf5"
mkdir -p "$HF_HOME"; printf 'secret-token\n' >"$HF_HOME/token"
"$VLDOC" pull test/tiny-gated >/dev/null 2>"$T_TMP/err"
ok $? "the token file in HF_HOME is used too"

"$VLDOC" pull test/nothing-here >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "HTTP 404"; ok $? "unknown repository: 404"
"$VLDOC" pull "not a repo" >/dev/null 2>"$T_TMP/err"; rc=$?
[ $rc -eq 1 ] && contains "$T_TMP/err" "not a hub repository id"
ok $? "a bad repository id is named"
"$VLDOC" pull a b >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ]; ok $? "two repositories: usage error"
done_testing
