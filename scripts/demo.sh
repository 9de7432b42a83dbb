#!/usr/bin/env bash
# The embedded demo: a backend on SQLite with in-memory coordination, three
# agents approved with a demo operator key, the sample KeePassXC export
# imported, and the console signed in. With --headless, or without a
# display, a live summary replaces the console. Everything lives in one
# folder (SEALRELAY_DEMO_DIR, else a new one under /tmp) and every process
# the demo starts is stopped when it ends.
set -euo pipefail

BUILD_DIR="$(cd "${1:?usage: demo.sh BUILD_DIR [--headless]}" && pwd)"
shift
HEADLESS=0
for argument in "$@"; do
    case "$argument" in
        --headless) HEADLESS=1 ;;
        *) echo "demo: unknown option $argument (the only option is --headless)" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BACKEND="$BUILD_DIR/backend/sealrelay-backend"
AGENT="$BUILD_DIR/agent/sealrelay-agent"
CTL="$BUILD_DIR/app/sealrelayctl"
CONSOLE="$BUILD_DIR/app/console/sealrelay-console"
SAMPLE="$ROOT/resources/demo/sample-keepassxc.csv"
AGENTS=(agent-1 agent-2 agent-3)

# Every file the demo writes (logs with the admin token among them) is
# readable by its owner only.
umask 077
DEMO_DIR="${SEALRELAY_DEMO_DIR:-$(mktemp -d /tmp/sealrelay-demo.XXXXXX)}"
mkdir -p "$DEMO_DIR"
chmod 700 "$DEMO_DIR"
DEMO_DIR="$(cd "$DEMO_DIR" && pwd)"
if [[ -e "$DEMO_DIR/backend" ]]; then
    echo "demo: $DEMO_DIR already contains a demo; remove it or set SEALRELAY_DEMO_DIR to a new folder" >&2
    exit 2
fi

# The demo's profile, keys and trusted operators stay in the demo folder, so
# the user's own sealrelayctl profiles are left alone.
export XDG_CONFIG_HOME="$DEMO_DIR/config"
export SEALRELAY_PROFILE=demo
# The demo operator key file is encrypted under this passphrase; the
# console and sealrelayctl read it from the environment. It protects a key
# made for this demo only, so the demo prints it for the user's terminal.
SEALRELAY_OPERATOR_PASSPHRASE="$(openssl rand -hex 16)"
export SEALRELAY_OPERATOR_PASSPHRASE

PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    # Agents that the user started again by hand on the demo's folders,
    # with an absolute or a relative --data-dir.
    local args dir cwd
    for pid in $(pgrep -f -- "sealrelay-agent run" 2>/dev/null); do
        args="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" || continue
        dir="$(sed -n 's/.*--data-dir[= ]\([^ ]*\).*/\1/p' <<< "$args")"
        cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null)" || continue
        [[ -n "$dir" && "$dir" != /* ]] && dir="$cwd/$dir"
        [[ "$dir" == "$DEMO_DIR"/* ]] && kill -TERM "$pid" 2>/dev/null
    done
    echo "demo: stopped. Its folder $DEMO_DIR keeps the logs, the keys and the admin token; remove it with rm -rf when done." >&2
}
trap stop_all EXIT
trap 'exit 130' INT TERM

fail() {
    echo "demo: $*" >&2
    echo "demo: the logs are in $DEMO_DIR" >&2
    exit 1
}

# A port that was free on 127.0.0.1 a moment ago.
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"

wait_for_backend() {
    local attempt
    for attempt in $(seq 1 100); do
        if python3 -c "import urllib.request,sys; urllib.request.urlopen('$URL/readyz', timeout=1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    fail "the backend did not become ready on $URL (see $DEMO_DIR/backend.log)"
}

echo "== sealrelay demo in $DEMO_DIR"
echo "1. Backend on $URL (SQLite, in-memory coordination)"
"$BACKEND" init --data-dir "$DEMO_DIR/backend" --org demo > "$DEMO_DIR/backend-init.log" 2>&1 \
    || fail "sealrelay-backend init failed (see $DEMO_DIR/backend-init.log)"
TOKEN="$(tail -n 1 "$DEMO_DIR/backend-init.log")"
"$BACKEND" run --data-dir "$DEMO_DIR/backend" --listen "127.0.0.1:$PORT" \
    > "$DEMO_DIR/backend.log" 2>&1 &
PIDS+=("$!")
echo "$!" > "$DEMO_DIR/backend.pid"
wait_for_backend

echo "2. Operator: a demo key, signed in with the admin token"
printf '%s' "$TOKEN" | "$CTL" login --backend "$URL" --token-file "$DEMO_DIR/token" > /dev/null \
    || fail "sealrelayctl login failed"
unset TOKEN
"$CTL" operator init --key-file "$DEMO_DIR/operator.key" --json > "$DEMO_DIR/operator.json" \
    || fail "sealrelayctl operator init failed"
TRUSTED="$(python3 -c "import json; print(json.load(open('$DEMO_DIR/operator.json'))['trusted_operators_file'])")"

echo "3. Agents: ${AGENTS[*]}, each with its own vault and keys"
for name in "${AGENTS[@]}"; do
    data="$DEMO_DIR/$name"
    enrolment="$("$CTL" enrolment-token create --agent-name "$name" | tail -n 1)"
    "$AGENT" init --data-dir "$data" --backend "$URL" --enrolment-token "$enrolment" \
        --trusted-operators "$TRUSTED" --name "$name" --vault-key-file "$data/vault.key" \
        > "$DEMO_DIR/$name-init.log" 2>&1 || fail "sealrelay-agent init of $name failed (see $DEMO_DIR/$name-init.log)"
    fingerprint="$(tail -n 1 "$DEMO_DIR/$name-init.log" | tr -d ' :')"
    "$AGENT" run --data-dir "$data" > "$DEMO_DIR/$name.log" 2>&1 &
    PIDS+=("$!")
    echo "$!" > "$DEMO_DIR/$name.pid"
    # The agent enrols when it runs; approval waits until the backend lists it.
    approved=0
    for attempt in $(seq 1 50); do
        if "$CTL" agent approve "$name" --fingerprint "$fingerprint" > "$DEMO_DIR/$name-approve.log" 2>&1; then
            approved=1
            break
        fi
        sleep 0.2
    done
    [[ $approved == 1 ]] || fail "approving $name failed (see $DEMO_DIR/$name-approve.log)"
    echo "   $name approved, fingerprint ${fingerprint:0:16}..."
done

echo "4. Import of a sample KeePassXC export (${SAMPLE#"$ROOT"/})"
"$CTL" import --format keepassxc-csv "$SAMPLE" > "$DEMO_DIR/import.log" 2>&1 \
    || fail "the import failed (see $DEMO_DIR/import.log)"
grep '^skipped' "$DEMO_DIR/import.log" | sed 's/^/   /' || true
tail -n 1 "$DEMO_DIR/import.log"

# The lines a second terminal needs to use the demo's profile and tools.
cat > "$DEMO_DIR/env.sh" <<EOF
export XDG_CONFIG_HOME=$DEMO_DIR/config SEALRELAY_PROFILE=demo
export SEALRELAY_OPERATOR_PASSPHRASE=$SEALRELAY_OPERATOR_PASSPHRASE
export PATH=$BUILD_DIR/app:$BUILD_DIR/agent:\$PATH
# For the REST API: curl -H "Authorization: Bearer \$TOKEN" \$URL/api/agents
export URL=$URL TOKEN=\$(cat $DEMO_DIR/token)
EOF

cat <<EOF

Try this in another terminal, after selecting the demo's profile and tools:

    source $DEMO_DIR/env.sh

- Stop agent-2 and rotate a credential: its row turns amber in the console,
  and the summary's count "stored by every agent in scope" drops:
      kill \$(cat $DEMO_DIR/agent-2.pid)
      echo '{"username":"admin","password":"FAKE-rotated"}' | sealrelayctl credential rotate "Network/Switches/Amsterdam/ams-sw-01 admin"
- Start agent-2 again and watch the backfill bring it back:
      sealrelay-agent run --data-dir $DEMO_DIR/agent-2 >> $DEMO_DIR/agent-2.log 2>&1 & echo \$! > $DEMO_DIR/agent-2.pid
- Ask an agent for a credential it lacks, and watch it fetch it from a peer
  at once (JIT repair). Give a new credential to agent-1 only, stop
  agent-1 and widen the scope (nobody can copy it yet), then start agent-1
  and ask agent-3 at once, before the reconciler's retry (30 s after the
  failure at the earliest, at its next sweep, which runs once a minute):
      echo '{"password":"FAKE-jit"}' | sealrelayctl credential create Lab/jit-demo --kind password --agents agent-1
      kill \$(cat $DEMO_DIR/agent-1.pid); sealrelayctl credential scope Lab/jit-demo --all
      sealrelay-agent run --data-dir $DEMO_DIR/agent-1 >> $DEMO_DIR/agent-1.log 2>&1 & echo \$! > $DEMO_DIR/agent-1.pid
      sleep 2; sealrelay-agent get --data-dir $DEMO_DIR/agent-3 Lab/jit-demo --field password
  sealrelayctl audit list --credential Lab/jit-demo shows the "jit" trigger.
- Retry a credential: it is sent at once to every agent that lacks it, as
  the console's Retry button does. A credential becomes "stalled" only
  after 10 failed attempts over several hours.
      sealrelayctl credential list; sealrelayctl credential retry Lab/jit-demo
- Read the audit trail of one credential and check the hash chain. Rows
  come oldest first, 100 to a page, and a full page ends with the
  --after-id of the next one:
      sealrelayctl audit list --credential "Network/Switches/Amsterdam/ams-sw-01 admin"; sealrelayctl audit verify

EOF

if [[ $HEADLESS == 0 && -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
    echo "5. The console, signed in. Close its window to stop the demo."
    "$CONSOLE" --profile demo || true
else
    [[ $HEADLESS == 1 ]] || echo "(no display: showing a live summary instead of the console)"
    # A demo in the background gets no Ctrl+C from its terminal.
    if [[ -t 0 && "$(ps -o tpgid= -p $$ | tr -d ' ')" == "$(ps -o pgid= -p $$ | tr -d ' ')" ]]; then
        echo "5. Live summary every 5 s. Ctrl+C stops the demo and every process it started."
    else
        echo "5. Live summary every 5 s. 'kill $$' stops the demo and every process it started."
    fi
    BACKEND_PID="$(cat "$DEMO_DIR/backend.pid")"
    while true; do
        # Without its backend the summary would only repeat connection errors.
        if ! kill -0 "$BACKEND_PID" 2>/dev/null; then
            echo "demo: the backend (PID $BACKEND_PID) has exited, so the demo stops. The end of $DEMO_DIR/backend.log:" >&2
            tail -n 5 "$DEMO_DIR/backend.log" >&2
            exit 1
        fi
        echo "---- $(date +%H:%M:%S) (what to try is above; tools: source $DEMO_DIR/env.sh)"
        "$CTL" status 2>&1 || true
        "$CTL" agent list 2>&1 || true
        sleep 5
    done
fi
