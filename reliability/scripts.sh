# Shared by scripts/test-reliability and scripts/reliability-full (sourced).

step() { printf '\n==> %s\n' "$*"; }

# cargo-fuzz needs nightly compiler flags: a nightly toolchain if installed,
# else the stable one with RUSTC_BOOTSTRAP=1.
fuzz_cargo() {
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        step "installing cargo-fuzz"
        cargo install --locked cargo-fuzz
    fi
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        (cd fuzz && cargo +nightly fuzz "$@")
    else
        (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz "$@")
    fi
}

FUZZ_TARGETS=(wire_decode apply_changes http_handlers store_file key_file)

# fuzz_all SECONDS: runs every target for SECONDS on its corpus; a crash
# copies the input into reliability/tests/fuzz-regressions/<target>/ (so
# cargo test replays it from then on) and fails.
fuzz_all() {
    local secs=$1 failed=0
    fuzz_cargo build -s none
    for t in "${FUZZ_TARGETS[@]}"; do
        step "fuzz $t for ${secs}s"
        mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
        local log="fuzz/artifacts/$t.log"
        if ! fuzz_cargo run -s none "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
            failed=1
            echo "fuzz target $t crashed; see $log"
            tail -n 30 "$log"
        fi
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$log" || true
        for a in fuzz/artifacts/"$t"/crash-* fuzz/artifacts/"$t"/oom-* fuzz/artifacts/"$t"/timeout-*; do
            [[ -e "$a" ]] || continue
            mkdir -p "reliability/tests/fuzz-regressions/$t"
            cp "$a" "reliability/tests/fuzz-regressions/$t/"
            echo "new regression input: reliability/tests/fuzz-regressions/$t/$(basename "$a")"
            failed=1
        done
    done
    return $failed
}
