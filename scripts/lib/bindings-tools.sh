# shellcheck shell=bash
# scripts/lib/bindings-tools.sh -- toolchains for running Carnet's generated
# Kotlin and Swift bindings on a Linux (Debian 12) machine.
#
# Meant to be SOURCED (it never calls `exit`, never changes shell options, and
# is safe under `set -euo pipefail`):
#
#     source "$(dirname "$0")/lib/bindings-tools.sh"
#
#     ensure_kotlin_tools          # exports KOTLINC, JNA_JAR, KOTLIN_STDLIB
#     "$KOTLINC" Gen.kt main.kt -cp "$JNA_JAR" -d build/kt.jar
#     java -Djna.library.path=target/release \
#          -cp "build/kt.jar:$JNA_JAR:$KOTLIN_STDLIB" MainKt
#
#     ensure_swift_chroot          # exports SWIFT_ROOT (a Debian 13 chroot with swiftc)
#     mkdir -p "$SWIFT_ROOT/w" && cp <name>.swift <name>FFI.h lib<name>.so main.swift "$SWIFT_ROOT/w/"
#     cp <name>FFI.modulemap "$SWIFT_ROOT/w/module.modulemap"
#     swift_chroot_run /w swiftc -I . -L . -l<name> \
#         -Xcc -fmodule-map-file=/w/module.modulemap <name>.swift main.swift -o t
#     swift_chroot_run /w env LD_LIBRARY_PATH=. ./t
#
# Functions
#   carnet_cache_dir        echo ${CARNET_CACHE:-$HOME/.cache/carnet}, creating it.
#   ensure_kotlin_tools     npm kotlin-compiler@$CARNET_KOTLIN_VERSION (default 2.4.20)
#                           under <cache>/kotlin, Debian's libjna-java (and a JRE if
#                           `java` is missing). Exports KOTLINC, JNA_JAR, KOTLIN_STDLIB.
#   ensure_swift_chroot     debootstrap --variant=minbase --include=swiftlang,libc6-dev
#                           trixie into <cache>/swift-root (about 1 min, ~3 GB, needs
#                           root). Exports SWIFT_ROOT.
#   swift_chroot_run DIR CMD...
#                           run CMD inside the chroot with DIR (an absolute path inside
#                           the chroot, e.g. /w) as working directory, in a clean
#                           environment (PATH, HOME=/root, LANG=C.UTF-8, TERM). /proc is
#                           mounted in a private mount namespace (unshare), so nothing
#                           is left mounted and concurrent runs do not interfere; where
#                           unshare is not permitted it falls back to a persistent
#                           mount of <root>/proc (see swift_chroot_umount).
#   swift_chroot_umount     unmount anything left mounted under the chroot (only
#                           needed after the fallback path).
#
# Both ensure_* functions are idempotent: once complete (a marker file is written
# last), a later call only checks files and returns in milliseconds, without any
# network access. A half-finished install (no marker) is removed and redone.
# Concurrent calls are serialised with flock on <cache>/*.lock.
#
# Environment knobs (all optional)
#   CARNET_CACHE                 cache root (default $HOME/.cache/carnet)
#   CARNET_KOTLIN_VERSION        npm kotlin-compiler version (default 2.4.20)
#   CARNET_DEBIAN_MIRROR         Debian mirror for debootstrap (default: the first
#                                non-security Debian URI in /etc/apt/sources.list.d/,
#                                then /etc/apt/sources.list)
#   CARNET_SWIFT_NO_CHECK_GPG=1  debootstrap --no-check-gpg; only as a last resort,
#                                the default verifies Release signatures with
#                                debian-archive-keyring (bookworm's 2023.3+deb12u2
#                                already carries the trixie keys).
#
# Every failing step returns non-zero with a line on stderr of the form
#   bindings-tools: ERROR [<function>: <step>] <what happened>

_carnet_err() { # <step> <message...>
    local step=$1
    shift
    printf 'bindings-tools: ERROR [%s] %s\n' "$step" "$*" >&2
    return 1
}

_carnet_note() {
    printf 'bindings-tools: %s\n' "$*" >&2
}

carnet_cache_dir() {
    local d="${CARNET_CACHE:-${HOME:?HOME is not set}/.cache/carnet}"
    mkdir -p -- "$d" || {
        _carnet_err "carnet_cache_dir: mkdir" "cannot create cache directory $d"
        return 1
    }
    printf '%s\n' "$d"
}

# Run as root: directly when we are root, via sudo otherwise.
_carnet_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _carnet_err "root" "need root (or sudo) to run: $*"
        return 1
    fi
}

# apt-get install; on failure run apt-get update once and retry.
_carnet_apt_install() { # <caller> <pkg...>
    local caller=$1
    shift
    local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 -y)
    _carnet_note "$caller: apt-get install $*"
    if _carnet_as_root "${apt[@]}" install "$@" >&2; then
        return 0
    fi
    _carnet_note "$caller: apt-get install $* failed; running apt-get update and retrying"
    _carnet_as_root "${apt[@]}" update >&2 || {
        _carnet_err "$caller: apt-get update" "apt-get update failed"
        return 1
    }
    _carnet_as_root "${apt[@]}" install "$@" >&2 || {
        _carnet_err "$caller: apt-get install" "apt-get install -y $* failed (also after apt-get update)"
        return 1
    }
}

# ---------------------------------------------------------------------------
# Kotlin
# ---------------------------------------------------------------------------

_carnet_kotlin_paths() { # sets _k_dir _k_dist _k_marker for the configured version
    local cache=$1 ver=$2
    _k_dir="$cache/kotlin"
    _k_dist="$_k_dir/node_modules/kotlin-compiler"
    _k_marker="$_k_dir/.carnet-complete-kotlin-compiler-$ver"
}

_carnet_kotlin_complete() {
    [ -f "$_k_marker" ] && [ -x "$_k_dist/bin/kotlinc" ] && [ -f "$_k_dist/lib/kotlin-stdlib.jar" ]
}

ensure_kotlin_tools() {
    local ver="${CARNET_KOTLIN_VERSION:-2.4.20}" cache
    local _k_dir _k_dist _k_marker
    cache=$(carnet_cache_dir) || return 1
    _carnet_kotlin_paths "$cache" "$ver"

    # java (kotlinc itself runs on the JVM)
    if ! command -v java >/dev/null 2>&1; then
        _carnet_apt_install ensure_kotlin_tools default-jre-headless || {
            _carnet_err "ensure_kotlin_tools: java" "no java on PATH and installing default-jre-headless failed"
            return 1
        }
    fi

    # kotlin-compiler from npm (the full JetBrains distribution)
    if ! _carnet_kotlin_complete; then
        command -v npm >/dev/null 2>&1 || {
            _carnet_err "ensure_kotlin_tools: npm" "npm is not on PATH (needed for kotlin-compiler@$ver)"
            return 1
        }
        (
            flock -w 1800 9 || {
                _carnet_err "ensure_kotlin_tools: lock" "timed out waiting for $cache/kotlin.lock"
                exit 1
            }
            _carnet_kotlin_complete && exit 0 # another process finished it meanwhile
            _carnet_note "ensure_kotlin_tools: installing kotlin-compiler@$ver into $_k_dir"
            rm -rf -- "$_k_dir" || {
                _carnet_err "ensure_kotlin_tools: cleanup" "cannot remove half-finished $_k_dir"
                exit 1
            }
            mkdir -p -- "$_k_dir" || exit 1
            npm install --prefix "$_k_dir" --no-audit --no-fund --loglevel=error \
                "kotlin-compiler@$ver" >&2 || {
                _carnet_err "ensure_kotlin_tools: npm install" "npm install --prefix $_k_dir kotlin-compiler@$ver failed"
                exit 1
            }
            [ -x "$_k_dist/bin/kotlinc" ] || {
                _carnet_err "ensure_kotlin_tools: verify" "$_k_dist/bin/kotlinc missing or not executable after npm install"
                exit 1
            }
            [ -f "$_k_dist/lib/kotlin-stdlib.jar" ] || {
                _carnet_err "ensure_kotlin_tools: verify" "$_k_dist/lib/kotlin-stdlib.jar missing after npm install"
                exit 1
            }
            printf 'kotlin-compiler %s installed %s\n' "$ver" "$(date -u +%FT%TZ)" >"$_k_marker" || {
                _carnet_err "ensure_kotlin_tools: marker" "cannot write $_k_marker"
                exit 1
            }
        ) 9>"$cache/kotlin.lock" || return 1
    fi

    # JNA, which uniffi's generated Kotlin calls into
    if [ ! -f /usr/share/java/jna.jar ]; then
        _carnet_apt_install ensure_kotlin_tools libjna-java || return 1
        [ -f /usr/share/java/jna.jar ] || {
            _carnet_err "ensure_kotlin_tools: jna" "libjna-java installed but /usr/share/java/jna.jar is missing"
            return 1
        }
    fi

    export KOTLINC="$_k_dist/bin/kotlinc"
    export KOTLIN_STDLIB="$_k_dist/lib/kotlin-stdlib.jar"
    export JNA_JAR=/usr/share/java/jna.jar
}

# ---------------------------------------------------------------------------
# Swift (Debian 13 chroot)
# ---------------------------------------------------------------------------

_CARNET_SWIFT_MARKER=.carnet-swift-root-complete

# The Debian mirror apt already uses (deb822 *.sources or one-line *.list).
_carnet_debian_mirror() {
    if [ -n "${CARNET_DEBIAN_MIRROR:-}" ]; then
        printf '%s\n' "$CARNET_DEBIAN_MIRROR"
        return 0
    fi
    local f uri
    local -a files=()
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
        [ -f "$f" ] && files+=("$f")
    done
    if [ "${#files[@]}" -gt 0 ]; then
        uri=$(
            awk '
                /^[[:space:]]*#/ { next }
                tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i; next }
                $1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { print $i; break } }
            ' "${files[@]}" 2>/dev/null |
                grep -E '^(https?|file)://' | grep -v -- '-security' | grep -v '/debian-ports' |
                grep -E '/debian/?$' | head -n 1
        ) || true
    fi
    if [ -z "${uri:-}" ]; then
        _carnet_err "ensure_swift_chroot: mirror" "no Debian mirror found in /etc/apt/sources.list.d/ or /etc/apt/sources.list; set CARNET_DEBIAN_MIRROR"
        return 1
    fi
    printf '%s\n' "${uri%/}"
}

# Mount points at or below $1, deepest first.
_carnet_mounts_under() {
    local p
    p=$(realpath -m -- "$1") || p=$1
    awk -v p="$p" '{ m = $5; gsub(/\\040/, " ", m); if (m == p || index(m, p "/") == 1) print length(m) "\t" m }' \
        /proc/self/mountinfo | sort -rn | cut -f2-
}

_carnet_umount_under() { # <path>
    local path=$1 m
    while IFS= read -r m; do
        [ -n "$m" ] || continue
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done < <(_carnet_mounts_under "$path")
    if [ -n "$(_carnet_mounts_under "$path")" ]; then
        _carnet_err "umount" "still mounted under $path: $(_carnet_mounts_under "$path" | tr '\n' ' ')"
        return 1
    fi
}

# Safely delete a (possibly half-built) chroot: unmount first, never cross filesystems.
_carnet_remove_tree() { # <path>
    local path=$1
    [ -e "$path" ] || return 0
    _carnet_umount_under "$path" || return 1
    rm -rf --one-file-system -- "$path" || {
        _carnet_err "remove" "cannot remove $path"
        return 1
    }
}

swift_chroot_umount() {
    local root="${SWIFT_ROOT:-}"
    if [ -z "$root" ]; then
        root="$(carnet_cache_dir)/swift-root" || return 1
    fi
    [ -d "$root" ] || return 0
    _carnet_umount_under "$root" || {
        _carnet_err "swift_chroot_umount" "could not unmount everything under $root"
        return 1
    }
}

# Can we make a private mount namespace? (cached per shell)
_carnet_can_unshare() {
    if [ -z "${_CARNET_UNSHARE_OK:-}" ]; then
        if command -v unshare >/dev/null 2>&1 && unshare --mount --propagation private true 2>/dev/null; then
            _CARNET_UNSHARE_OK=yes
        else
            _CARNET_UNSHARE_OK=no
        fi
    fi
    [ "$_CARNET_UNSHARE_OK" = yes ]
}

# _carnet_chroot_exec <root> <dir> <cmd...>: the mechanics behind swift_chroot_run.
_carnet_chroot_exec() {
    local root=$1 dir=$2
    shift 2
    # Inner script: mount /proc if needed, then chroot into a clean environment.
    # shellcheck disable=SC2016
    local inner='
        root=$1; dir=$2; shift 2
        if ! mountpoint -q "$root/proc"; then
            mount -t proc proc "$root/proc" || {
                echo "bindings-tools: ERROR [swift_chroot_run: mount] mount -t proc proc $root/proc failed" >&2
                exit 125
            }
        fi
        exec chroot "$root" /usr/bin/env -i \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
            /bin/sh -c '\''cd "$1" || exit 125; shift; exec "$@"'\'' sh "$dir" "$@"
    '
    if _carnet_can_unshare; then
        # Private mount namespace: /proc vanishes with the process, concurrent runs
        # each get their own, nothing to clean up.
        unshare --mount --propagation private -- /bin/bash -c "$inner" bash "$root" "$dir" "$@"
    else
        # Fallback: a persistent mount in the host namespace (left mounted; see
        # swift_chroot_umount). The lock makes the check-then-mount atomic.
        local cache
        cache=$(carnet_cache_dir) || return 1
        (
            flock -w 60 9 || exit 125
            mountpoint -q "$root/proc" || mount -t proc proc "$root/proc" || exit 125
        ) 9>"$cache/swift-proc.lock" || {
            _carnet_err "swift_chroot_run: mount" "could not mount proc on $root/proc"
            return 125
        }
        /bin/bash -c "$inner" bash "$root" "$dir" "$@"
    fi
}

_carnet_swift_complete() { # <root>
    [ -f "$1/$_CARNET_SWIFT_MARKER" ] && [ -x "$1/usr/bin/swiftc" ]
}

ensure_swift_chroot() {
    local cache root partial lock log
    cache=$(carnet_cache_dir) || return 1
    root="$cache/swift-root"
    partial="$cache/swift-root.partial"
    lock="$cache/swift-root.lock"
    log="$cache/swift-root.debootstrap.log"

    if _carnet_swift_complete "$root"; then
        export SWIFT_ROOT="$root"
        return 0
    fi

    [ "$(id -u)" -eq 0 ] || {
        _carnet_err "ensure_swift_chroot: root" "creating and entering a chroot needs root (uid 0)"
        return 1
    }

    (
        flock -w 3600 9 || {
            _carnet_err "ensure_swift_chroot: lock" "timed out waiting for $lock"
            exit 1
        }
        _carnet_swift_complete "$root" && exit 0 # finished by a concurrent call

        # Tools: debootstrap (and a keyring that knows trixie).
        if ! command -v debootstrap >/dev/null 2>&1; then
            _carnet_apt_install ensure_swift_chroot debootstrap || exit 1
        fi
        [ -e /usr/share/debootstrap/scripts/trixie ] || {
            _carnet_err "ensure_swift_chroot: debootstrap" "this debootstrap has no script for trixie (/usr/share/debootstrap/scripts/trixie)"
            exit 1
        }

        local -a gpg_opt=()
        if [ "${CARNET_SWIFT_NO_CHECK_GPG:-0}" = 1 ]; then
            _carnet_note "ensure_swift_chroot: WARNING: CARNET_SWIFT_NO_CHECK_GPG=1, Release signatures are NOT verified"
            gpg_opt=(--no-check-gpg)
        else
            if [ ! -f /usr/share/keyrings/debian-archive-trixie-automatic.gpg ]; then
                # bookworm's debian-archive-keyring >= 2023.3+deb12u1 ships the trixie keys
                _carnet_note "ensure_swift_chroot: keyring lacks trixie keys; upgrading debian-archive-keyring"
                _carnet_apt_install ensure_swift_chroot debian-archive-keyring || exit 1
                [ -f /usr/share/keyrings/debian-archive-trixie-automatic.gpg ] || {
                    _carnet_err "ensure_swift_chroot: keyring" "debian-archive-keyring has no trixie keys even after upgrade (set CARNET_SWIFT_NO_CHECK_GPG=1 to skip verification)"
                    exit 1
                }
            fi
            gpg_opt=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
        fi

        local mirror
        mirror=$(_carnet_debian_mirror) || exit 1

        # Anything left from an interrupted run is redone from scratch.
        if [ -e "$root" ]; then
            _carnet_note "ensure_swift_chroot: $root has no completion marker; removing and redoing it"
            _carnet_remove_tree "$root" || exit 1
        fi
        _carnet_remove_tree "$partial" || exit 1

        _carnet_note "ensure_swift_chroot: debootstrap trixie from $mirror into $partial (about a minute, ~3 GB; log: $log)"
        if ! debootstrap --variant=minbase --include=swiftlang,libc6-dev "${gpg_opt[@]}" \
            trixie "$partial" "$mirror" >"$log" 2>&1; then
            tail -n 25 "$log" >&2
            [ -f "$partial/debootstrap/debootstrap.log" ] && tail -n 25 "$partial/debootstrap/debootstrap.log" >&2
            _carnet_err "ensure_swift_chroot: debootstrap" "debootstrap trixie failed (full log: $log)"
            _carnet_umount_under "$partial" || true
            exit 1
        fi
        _carnet_umount_under "$partial" || exit 1 # debootstrap normally cleans up; be sure

        [ -x "$partial/usr/bin/swiftc" ] || {
            _carnet_err "ensure_swift_chroot: verify" "debootstrap finished but $partial/usr/bin/swiftc is missing"
            exit 1
        }
        local version
        version=$(_carnet_chroot_exec "$partial" / swiftc --version 2>&1) || {
            printf '%s\n' "$version" >&2
            _carnet_err "ensure_swift_chroot: verify" "swiftc --version failed inside the new chroot"
            exit 1
        }
        _carnet_umount_under "$partial" || exit 1 # (fallback path mounts proc persistently)
        printf 'debootstrap trixie from %s at %s\n%s\n' "$mirror" "$(date -u +%FT%TZ)" "$version" \
            >"$partial/$_CARNET_SWIFT_MARKER" || {
            _carnet_err "ensure_swift_chroot: marker" "cannot write the completion marker"
            exit 1
        }
        mv -T -- "$partial" "$root" || {
            _carnet_err "ensure_swift_chroot: finish" "cannot rename $partial to $root"
            exit 1
        }
        _carnet_note "ensure_swift_chroot: ready: $(head -n 2 "$root/$_CARNET_SWIFT_MARKER" | tail -n 1)"
    ) 9>"$lock" || return 1

    export SWIFT_ROOT="$root"
}

# swift_chroot_run <dir-inside-root> <command...>
swift_chroot_run() {
    if [ "$#" -lt 2 ]; then
        _carnet_err "swift_chroot_run: usage" "swift_chroot_run <dir-inside-root> <command...>"
        return 2
    fi
    local dir=$1 root rc=0
    shift
    root="${SWIFT_ROOT:-}"
    if [ -z "$root" ]; then
        root="$(carnet_cache_dir)/swift-root" || return 1
    fi
    _carnet_swift_complete "$root" || {
        _carnet_err "swift_chroot_run: chroot" "$root is not a complete Swift chroot; call ensure_swift_chroot first"
        return 1
    }
    case $dir in
        /*) ;;
        *)
            _carnet_err "swift_chroot_run: usage" "directory must be absolute inside the chroot (got '$dir')"
            return 2
            ;;
    esac
    [ -d "$root$dir" ] || {
        _carnet_err "swift_chroot_run: chdir" "$root$dir does not exist"
        return 1
    }
    [ "$(id -u)" -eq 0 ] || {
        _carnet_err "swift_chroot_run: root" "chroot needs root (uid 0)"
        return 1
    }
    _carnet_chroot_exec "$root" "$dir" "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        _carnet_err "swift_chroot_run: command" "'$*' in $dir exited with status $rc"
        return "$rc"
    fi
}
