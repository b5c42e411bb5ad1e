# shellcheck shell=bash
# scripts/lib/bindings-suite.sh -- what scripts/test-kotlin and
# scripts/test-swift share: building the host library with its bindings
# generator, generating the bindings, and running a real carnet-server on a
# loopback port for the suites' sync tests. The suites play the conformance
# scenarios (conformance/scenarios.json, CARNET_CONFORMANCE) through their
# face's API.
#
# Meant to be SOURCED by a script running under `set -euo pipefail` from the
# repository root:
#
#     source scripts/lib/bindings-suite.sh
#     carnet_build_ffi                      # target/debug/libcarnet_ffi.so (+ test hooks)
#     carnet_generate kotlin "$out"         # bindings into $out
#     carnet_start_server "$work"           # exports CARNET_TEST_SERVER, ..._CODES
#     trap carnet_stop_server EXIT
#
# The library is the DEBUG build: the suites test behaviour, not speed, and the
# debug build shares its compiled dependencies (SQLCipher…) with `cargo test`.

CARNET_FFI_LIB="${CARNET_FFI_LIB:-target/debug/libcarnet_ffi.so}"
CARNET_BINDGEN="target/debug/uniffi-bindgen"
# Enough one-time codes for every enroll step of the scenarios (a runner
# that runs out says so).
CARNET_MEDIATOR_CODES_WANTED=16
CARNET_SUPERVISOR_CODES_WANTED=6
export CARNET_CONFORMANCE="${CARNET_CONFORMANCE:-$PWD/conformance/scenarios.json}"

_suite_note() { printf '%s: %s\n' "${CARNET_SUITE:-bindings}" "$*" >&2; }

# The host library with the hidden test hooks, and the uniffi-bindgen binary.
carnet_build_ffi() {
    _suite_note "cargo build -p carnet-ffi --features cli,test-hooks"
    cargo build -q -p carnet-ffi --features cli,test-hooks --lib --bin uniffi-bindgen
    [ -f "$CARNET_FFI_LIB" ] || {
        _suite_note "ERROR: $CARNET_FFI_LIB was not built"
        return 1
    }
}

# carnet_generate <kotlin|swift> <out-dir>: library-mode bindings (names from ffi/uniffi.toml).
carnet_generate() {
    local lang=$1 out=$2
    rm -rf -- "$out"
    mkdir -p -- "$out"
    "$CARNET_BINDGEN" generate --library "$CARNET_FFI_LIB" --language "$lang" --out-dir "$out" --no-format >&2
}

_carnet_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# carnet_start_server <work-dir>: builds and starts carnet-server on a free
# loopback port with a fresh team; exports CARNET_TEST_SERVER,
# CARNET_TEST_SUPERVISOR_CODE (the team's first), CARNET_TEST_SUPERVISOR_CODES
# and CARNET_TEST_MEDIATOR_CODES (comma-separated).
carnet_start_server() {
    local work=$1 bin=target/debug/carnet-server data port init i codes="" sup_codes="" attempt
    _suite_note "cargo build -p carnet-server"
    cargo build -q -p carnet-server --bin carnet-server
    data="$work/server-data"
    rm -rf -- "$data"
    mkdir -p -- "$data"
    init=$("$bin" init --team "Équipe de test" --data "$data" --json)
    CARNET_TEST_TEAM_ID=$(jq -er .team_id <<<"$init")
    CARNET_TEST_SUPERVISOR_CODE=$(jq -er .code <<<"$init")
    for ((i = 0; i < CARNET_MEDIATOR_CODES_WANTED; i++)); do
        codes+="${codes:+,}$("$bin" enroll --team "$CARNET_TEST_TEAM_ID" --role mediator --data "$data" --json | jq -er .code)"
    done
    for ((i = 0; i < CARNET_SUPERVISOR_CODES_WANTED; i++)); do
        sup_codes+="${sup_codes:+,}$("$bin" enroll --team "$CARNET_TEST_TEAM_ID" --role supervisor --data "$data" --json | jq -er .code)"
    done
    for attempt in 1 2 3; do
        port=$(_carnet_free_port)
        "$bin" serve --data "$data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
        CARNET_SERVER_PID=$!
        for ((i = 0; i < 100; i++)); do
            if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
                export CARNET_TEST_SERVER="http://127.0.0.1:$port"
                export CARNET_TEST_SUPERVISOR_CODE CARNET_TEST_TEAM_ID
                export CARNET_TEST_MEDIATOR_CODES="$codes"
                export CARNET_TEST_SUPERVISOR_CODES="$sup_codes"
                _suite_note "carnet-server (pid $CARNET_SERVER_PID) on $CARNET_TEST_SERVER"
                return 0
            fi
            kill -0 "$CARNET_SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        _suite_note "carnet-server did not come up on port $port (attempt $attempt); log:"
        tail -n 20 "$work/server.log" >&2 || true
        carnet_stop_server
    done
    return 1
}

# Stops the server started by carnet_start_server (by its pid only).
carnet_stop_server() {
    if [ -n "${CARNET_SERVER_PID:-}" ]; then
        kill "$CARNET_SERVER_PID" 2>/dev/null || true
        wait "$CARNET_SERVER_PID" 2>/dev/null || true
        CARNET_SERVER_PID=
    fi
}
