# shellcheck shell=bash
# scripts/lib/test-services.sh -- the services the server's tests need
# besides Rust: a PostgreSQL to create their databases in, and HAProxy (the
# front of the multi-instance test, reliability/tests/multi_instance.rs).
#
# Meant to be SOURCED by a script running under `set -euo pipefail` from the
# repository root:
#
#     source scripts/lib/test-services.sh
#     ensure_test_postgres        # exports CARNET_TEST_DATABASE_URL
#     trap stop_test_postgres EXIT
#     ensure_haproxy
#
# ensure_test_postgres uses the PostgreSQL at CARNET_TEST_DATABASE_URL
# (default postgres://postgres@127.0.0.1:5432/test) when it answers and lets
# the URL's user in. When nothing answers there, it installs Debian's
# PostgreSQL if the machine has none (apt-get), starts a throwaway cluster
# under target/pg-test/ on a free loopback port (trust authentication, user
# postgres, database `test`, no fsync: nothing in it outlives the run) and
# points CARNET_TEST_DATABASE_URL at it; stop_test_postgres stops and removes
# it. The tests themselves create a fresh database each and drop it
# (sync-server/tests/common/pg.rs, reliability/src/pg.rs): they never skip
# when no PostgreSQL answers, they fail, and this never hides one.
#
# A server that answers but refuses the URL (a wrong user, password or
# database) is an error, not a reason to start another: the URL was meant.

_services_note() { printf 'test-services: %s\n' "$*" >&2; }
_services_fail() {
    printf 'test-services: ERROR %s\n' "$*" >&2
    return 1
}

# Runs as root: directly when we are root, via sudo otherwise.
_services_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _services_fail "need root (or sudo) to run: $*"
    fi
}

# apt-get install <pkg...>, with apt-get update first when the install fails.
_services_apt_install() {
    command -v apt-get >/dev/null 2>&1 ||
        _services_fail "no apt-get to install $*: install them by hand" || return 1
    local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 -y)
    _services_note "apt-get install $*"
    _services_as_root "${apt[@]}" install "$@" >&2 && return 0
    _services_as_root "${apt[@]}" update >&2 ||
        _services_fail "apt-get update failed" || return 1
    _services_as_root "${apt[@]}" install "$@" >&2 ||
        _services_fail "apt-get install -y $* failed (also after apt-get update)"
}

# The newest Debian PostgreSQL server binaries (/usr/lib/postgresql/N/bin).
_services_pg_bindir() {
    local d
    d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && printf '%s\n' "$d"
}

# Host and port of a postgres:// URL (defaults 127.0.0.1 and 5432).
_services_pg_host() {
    local rest=${1#*://}
    rest=${rest%%/*}
    rest=${rest##*@}
    local host=${rest%%:*}
    printf '%s\n' "${host:-127.0.0.1}"
}
_services_pg_port() {
    local rest=${1#*://}
    rest=${rest%%/*}
    rest=${rest##*@}
    case $rest in
        *:*) printf '%s\n' "${rest##*:}" ;;
        *) printf '5432\n' ;;
    esac
}

# Whether anything accepts TCP connections on 127.0.0.1:<port>.
_services_port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Runs a PostgreSQL server program as a user it accepts: postgres refuses
# to run as root, so as root it runs as the `postgres` user Debian's package
# creates.
_services_pg_run() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

CARNET_PG_TEST_DIR=""

ensure_test_postgres() {
    local url="${CARNET_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
    local host port
    host=$(_services_pg_host "$url")
    port=$(_services_pg_port "$url")
    if ! command -v pg_isready >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
        _services_apt_install postgresql-client || return 1
    fi
    if pg_isready -q -h "$host" -p "$port" -t 5; then
        psql "$url" -qAtc 'SELECT 1' >/dev/null ||
            _services_fail "the PostgreSQL at $host:$port answers but refuses $url: fix CARNET_TEST_DATABASE_URL" ||
            return 1
        export CARNET_TEST_DATABASE_URL="$url"
        _services_note "PostgreSQL: $host:$port (CARNET_TEST_DATABASE_URL)"
        return 0
    fi
    _services_note "no PostgreSQL answers at $host:$port: starting a throwaway cluster under target/pg-test"
    _start_throwaway_postgres
}

_start_throwaway_postgres() {
    local bindir
    bindir=$(_services_pg_bindir) || true
    if [ -z "$bindir" ]; then
        _services_apt_install postgresql || return 1
        bindir=$(_services_pg_bindir) ||
            _services_fail "PostgreSQL installed, but no /usr/lib/postgresql/*/bin/initdb" || return 1
    fi
    local version=${bindir%/bin}
    version=${version##*/}
    # The search configuration folds accents with `unaccent` (in Debian's
    # server package since PostgreSQL 10; postgresql-contrib before).
    if [ ! -f "/usr/share/postgresql/$version/extension/unaccent.control" ]; then
        _services_apt_install postgresql-contrib || return 1
        [ -f "/usr/share/postgresql/$version/extension/unaccent.control" ] ||
            _services_fail "the unaccent extension of PostgreSQL $version is missing" || return 1
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        _services_fail "running as root, and no 'postgres' user to run PostgreSQL as (apt-get install postgresql creates it)" ||
            return 1
    fi

    mkdir -p target/pg-test
    _services_sweep_stale
    local dir
    dir=$(mktemp -d "$PWD/target/pg-test/run.XXXXXX")
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    _services_pg_run test -w "$dir" ||
        _services_fail "$dir is not writable by the user PostgreSQL runs as (postgres): a parent directory is closed to it" ||
        return 1
    _services_pg_run "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        _services_fail "initdb failed (log above)"
        return 1
    }
    CARNET_PG_TEST_DIR=$dir
    local p
    for p in $(seq 55432 55531); do
        _services_port_taken "$p" && continue
        if _services_pg_run "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $p -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >/dev/null; then
            port=$p
            break
        fi
        # Another program took the port meanwhile: the next one.
        tail -n 3 "$dir/server.log" >&2 || true
    done
    [ -n "${port:-}" ] || {
        _services_fail "the throwaway PostgreSQL did not start on any port of 55432-55531 (log: $dir/server.log)"
        return 1
    }
    CARNET_PG_TEST_BINDIR=$bindir
    "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtc 'CREATE DATABASE test' >/dev/null ||
        _services_fail "could not create the database 'test' in the throwaway cluster" || return 1
    export CARNET_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/test"
    _services_note "PostgreSQL $version: throwaway cluster on 127.0.0.1:$port ($dir)"
}

# Removes clusters left by runs that were killed before their trap ran.
_services_sweep_stale() {
    local d
    for d in target/pg-test/run.*; do
        [ -d "$d" ] || continue
        if [ -f "$d/data/postmaster.pid" ]; then
            local pid
            pid=$(head -n 1 "$d/data/postmaster.pid")
            # Still running: another run's (or a killed run's) cluster.
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && continue
        fi
        rm -rf -- "$d"
    done
}

# Stops and removes the throwaway cluster, if ensure_test_postgres started one.
stop_test_postgres() {
    [ -n "$CARNET_PG_TEST_DIR" ] || return 0
    _services_pg_run "$CARNET_PG_TEST_BINDIR/pg_ctl" -D "$CARNET_PG_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf -- "$CARNET_PG_TEST_DIR"
    CARNET_PG_TEST_DIR=""
}

# HAProxy, Debian's, for the multi-instance test.
ensure_haproxy() {
    if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then
        return 0
    fi
    _services_apt_install haproxy || return 1
    [ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 ||
        _services_fail "haproxy installed, but no haproxy program found"
}
