# Helpers for the remote-engine and serve tests (sourced after lib.sh):
# start the fault-injection server or `vldoc serve` on 127.0.0.1 and wait
# for the port each writes; everything started is stopped on exit.
T_PIDS=
# Skip the whole script. The plan line says SKIP; the exit status stays 0
# because tap-driver.sh reports any other status as an ERROR.
skip_all() {
  echo "1..0 # SKIP $*"
  exit 0
}
trap 'for p in $T_PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$T_TMP"' EXIT

need_python() {
  if [ ! -x /usr/bin/python3 ]; then
    skip_all "/usr/bin/python3 not found (apt-get install python3)"
  fi
}

# wait_port FILE PID: the port written to FILE, once it is there
wait_port() {
  i=0
  while [ ! -s "$1" ]; do
    kill -0 "$2" 2>/dev/null || return 1
    i=$((i + 1)); [ $i -gt 200 ] && return 1
    sleep 0.05
  done
  cat "$1"
}

# start_fault_server: sets FAULT_URL (http://127.0.0.1:PORT)
start_fault_server() {
  need_python
  /usr/bin/python3 "$VLDOC_SRCDIR/tests/cli/fault-server.py" "$T_TMP/fault.port" \
    2>"$T_TMP/fault.err" &
  fpid=$!
  T_PIDS="$T_PIDS $fpid"
  fport=$(wait_port "$T_TMP/fault.port" $fpid) || {
    skip_all "the fault server did not start: $(cat "$T_TMP/fault.err")"
  }
  FAULT_URL="http://127.0.0.1:$fport"
}

# fault_ctl JSON: change the fault server's mode
fault_ctl() {
  /usr/bin/python3 -c 'import sys, urllib.request as u
u.urlopen(u.Request(sys.argv[1] + "/control", data=sys.argv[2].encode()))' \
    "$FAULT_URL" "$1"
}

# start_serve LOG ARGS...: `vldoc serve` on a free port; sets SERVE_URL and
# SERVE_PID
start_serve() {
  log=$1; shift
  rm -f "$T_TMP/serve.port"
  "$VLDOC" serve --port 0 --port-file "$T_TMP/serve.port" "$@" 2>"$log" &
  SERVE_PID=$!
  T_PIDS="$T_PIDS $SERVE_PID"
  sport=$(wait_port "$T_TMP/serve.port" $SERVE_PID) || return 1
  SERVE_URL="http://127.0.0.1:$sport"
}

need_serve() {
  if ! "$VLDOC" --version | grep -q '^Features:.* serve'; then
    skip_all "vldoc serve not built (no libmicrohttpd)"
  fi
}
need_remote() {
  if ! "$VLDOC" --version | grep -q '^Features:.* remote'; then
    skip_all "remote engine not built (no libcurl)"
  fi
}

# same_doc A B: the two JSON documents are equal but for how many requests
# each page took (stats.attempts), which faults and retries change, and
# which engine made each page (qwen here, remote there)
same_doc() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
def norm(path):
    d = json.load(open(path))
    for p in d.get("pages", []):
        p.pop("engine", None)
        st = p.get("stats")
        if isinstance(st, dict):
            st.pop("attempts", None)
            if not st:
                del p["stats"]
    return d
sys.exit(0 if norm(sys.argv[1]) == norm(sys.argv[2]) else 1)
PY
}
