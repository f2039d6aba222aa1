#!/bin/sh
# vldoc serve's chat completions with an engine behind it, without a model:
# serve runs the remote engine against the fault server, so a chat request
# goes client -> serve -> remote engine -> fault server and back. Checks
# the OpenAI answer (content, usage, finish_reason), streaming (events in
# order, role first, [DONE] last, usage when asked), that the request's
# prompt, system prompt and max_tokens reach the engine, and the whole
# chain with `vldoc --engine remote` as the client.
. "${VLDOC_SRCDIR:-.}/tests/cli/lib.sh"
. "$VLDOC_SRCDIR/tests/cli/remote-lib.sh"
need_shared
need_serve
need_remote
need_python
C="$VLDOC_SHARED/corpus"
PNG="$VLDOC_SHARED/refs/qwen25vl/images/img_a_300x200.png"
P=/usr/bin/python3
export TMPDIR="$T_TMP"

"$VLDOC" -q -e text -f qwenvl "$PNG" >/dev/null 2>"$T_TMP/probe"
if grep -q "not supported by this build" "$T_TMP/probe"; then
  skip_all "PNG input is not built yet: $(head -1 "$T_TMP/probe")"
fi
start_fault_server
fault_ctl '{"reset": true, "mode": "ok"}'
start_serve "$T_TMP/serve.log" -e remote --endpoint "$FAULT_URL/v1" --stream \
  --served-model-name tiny ||
  skip_all "vldoc serve did not start: $(cat "$T_TMP/serve.log")"

# chat.py OUT STREAM USAGE [PROMPT [SYSTEM]]: one request with the image
cat >"$T_TMP/chat.py" <<'EOF'
import base64, http.client, json, sys, urllib.parse
url, img, out, stream, usage = sys.argv[1:6]
prompt = sys.argv[6] if len(sys.argv) > 6 else "QwenVL HTML"
system = sys.argv[7] if len(sys.argv) > 7 else None
data = "data:image/png;base64," + base64.b64encode(open(img, "rb").read()).decode()
msgs = ([{"role": "system", "content": system}] if system else []) + [
    {"role": "user", "content": [{"type": "text", "text": prompt},
                                 {"type": "image_url", "image_url": {"url": data}}]}]
body = {"model": "tiny", "messages": msgs, "max_tokens": 321, "temperature": 0,
        "stream": stream == "1"}
if usage == "1":
    body["stream_options"] = {"include_usage": True}
u = urllib.parse.urlsplit(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
c.request("POST", "/v1/chat/completions", body=json.dumps(body),
          headers={"Content-Type": "application/json"})
r = c.getresponse()
raw = r.read()
res = {"status": r.status, "ctype": r.getheader("Content-Type")}
if stream == "1" and r.status == 200:
    events = [l[6:] for l in raw.decode().split("\n") if l.startswith("data: ")]
    res["done_last"] = events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events if e != "[DONE]"]
    res["content"] = "".join(ch["choices"][0]["delta"].get("content", "")
                             for ch in chunks if ch["choices"])
    res["role_first"] = chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    res["finish"] = [ch["choices"][0]["finish_reason"] for ch in chunks
                     if ch["choices"] and ch["choices"][0]["finish_reason"]]
    res["usage"] = [ch["usage"] for ch in chunks if ch.get("usage")]
    res["n"] = len(chunks)
    res["objects"] = sorted({ch["object"] for ch in chunks})
else:
    res["body"] = json.loads(raw)
json.dump(res, open(out, "w"))
EOF
chat() { $P "$T_TMP/chat.py" "$SERVE_URL" "$PNG" "$T_TMP/$1.json" "$2" "$3" ${4:+"$4"} ${5:+"$5"}; }
get() { $P -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if not isinstance(v, (dict, list)) else json.dumps(v))' "$T_TMP/$1.json" "$2"; }

chat plain 0 0
[ "$(get plain status)" = 200 ] && [ "$(get plain body.object)" = chat.completion ]
ok $? "chat: 200, a chat.completion"
content=$(get plain body.choices.0.message.content)
echo "$content" | grep -q '<p data-bbox="0 0 [0-9]* [0-9]*">page [0-9]*x[0-9]*-'
ok $? "the assistant message is the engine's HTML"
[ "$(get plain body.choices.0.finish_reason)" = stop ] &&
  [ "$(get plain body.usage.completion_tokens)" = 17 ] &&
  [ "$(get plain body.usage.prompt_tokens)" -gt 20 ]
ok $? "finish_reason stop and the usage the engine reported"

chat streamed 1 1
[ "$(get streamed status)" = 200 ] && get streamed ctype | grep -q '^text/event-stream'
ok $? "stream: 200 text/event-stream"
[ "$(get streamed content)" = "$content" ]; ok $? "stream: the events add up to the same content"
[ "$(get streamed role_first)" = True ] && [ "$(get streamed done_last)" = True ] &&
  [ "$(get streamed objects)" = '["chat.completion.chunk"]' ]
ok $? "stream: role first, [DONE] last, every event a chat.completion.chunk"
[ "$(get streamed finish)" = '["stop"]' ] && [ "$(get streamed usage.0.completion_tokens)" = 17 ]
ok $? "stream: one finish_reason, usage when include_usage"
[ "$(get streamed n)" -gt 4 ]; ok $? "stream: tokens came as they were made ($(get streamed n) events)"
chat nousage 1 0
[ "$(get nousage usage)" = '[]' ]; ok $? "stream: no usage event unless asked"

fault_ctl '{"reset": true, "mode": "length"}'
chat cut 1 0
chat cut2 0 0
[ "$(get cut finish)" = '["length"]' ] && [ "$(get cut2 body.choices.0.finish_reason)" = length ]
ok $? "a reply cut at max_tokens: finish_reason length, streamed or not"

fault_ctl '{"reset": true, "mode": "ok"}'
chat custom 0 0 "Read the table." "Be brief."
$P -c 'import json, sys, urllib.request as u
p = json.load(u.urlopen(sys.argv[1] + "/stats"))["prompts"]
sys.exit(0 if p == [["Be brief.", "Read the table.", 321]] else 1)' "$FAULT_URL"
ok $? "the request's prompt, system prompt and max_tokens reach the engine"

fault_ctl '{"reset": true, "mode": "bad400"}'
chat failed 1 0
[ "$(get failed status)" = 502 ]
ok $? "an engine failure before any token: an HTTP error, not a broken stream ($(get failed status))"

# the whole chain: vldoc --engine remote -> vldoc serve -> fault server
fault_ctl '{"reset": true, "mode": "ok"}'
for f in "$PNG" "$C/layout/docling_multi_page.pdf"; do
  b=$(basename "$f")
  "$VLDOC" -q --engine remote --endpoint "$FAULT_URL/v1" --pages 1-2 -f md "$f" \
    2>/dev/null | sed 's/-[0-9a-f]\{10\}//' >"$T_TMP/$b.direct"
  "$VLDOC" -q --engine remote --stream --jobs 2 --endpoint "$SERVE_URL/v1" \
    --pages 1-2 -f md "$f" 2>/dev/null | sed 's/-[0-9a-f]\{10\}//' >"$T_TMP/$b.chain"
  [ -s "$T_TMP/$b.direct" ] && cmp -s "$T_TMP/$b.direct" "$T_TMP/$b.chain"
  ok $? "$b: through vldoc serve, the same document as direct"
done

kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; rc=$?
[ $rc -eq 0 ] && ! grep -q "Sanitizer" "$T_TMP/serve.log"; ok $? "clean exit (rc $rc)"
done_testing
