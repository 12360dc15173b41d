#!/usr/bin/env bash
# Fuzzes every target (or those named) with libFuzzer through `cargo fuzz`, on stable Rust with
# the sanitizer off (Rust's own checks still panic on overflow and out-of-bounds):
#
#   fuzz/run.sh [--ci | --runs N | --seconds S] [TARGET...]
#
# Each starts from its seeds (fuzz/seeds/TARGET, copied into fuzz/corpus/TARGET, which grows
# and is not committed). --runs N with the fixed seed 1 repeats the same inputs on the same
# build; --ci does that with a count per target of about 40 s each on a 2-core machine (the
# default is 60 s each). For more cores, run targets in parallel, one process each: libFuzzer's
# fork mode ran at about half the speed of one process here. A failing input is left in
# fuzz/artifacts/TARGET/; minimize it (cargo fuzz tmin -s none TARGET FILE), fix the bug, and
# commit the input under
# fuzz/regressions/TARGET/ so that tests/fuzz_inputs.rs replays it in `cargo test`.
# Needs cargo-fuzz (cargo install cargo-fuzz --locked).
set -euo pipefail
cd "$(dirname "$0")"

limit=(-max_total_time=60)
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) limit=(-runs="$2" -seed=1 -max_total_time=600); shift 2 ;;
        --ci) ci=1; shift ;;
        --seconds) limit=(-max_total_time="$2"); shift 2 ;;
        *) break ;;
    esac
done
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(respond update transfer_in naptr_regexp zone_file)

cargo fuzz build -s none 2>&1 | tail -1  # every target: one build
# Runs per target for --ci: inputs differ in cost (a zone file is a whole load).
declare -A ci_runs=([respond]=5000000 [update]=2000000 [transfer_in]=1500000
                    [naptr_regexp]=200000 [zone_file]=40000)
for t in "${targets[@]}"; do
    if [[ -n "${ci:-}" ]]; then
        limit=(-runs="${ci_runs[$t]}" -seed=1 -max_total_time=600)
    fi
    mkdir -p "corpus/$t"
    cp -n "seeds/$t/"* "corpus/$t/"
    echo "fuzzing $t (${limit[*]})"
    # -timeout: an input that takes a second is a hang worth a report.
    # A zone file is a whole load: short ones find the parser's edges sooner.
    extra=()
    [[ $t == zone_file ]] && extra=(-max_len=2048)
    cargo fuzz run -s none "$t" "corpus/$t" -- "${limit[@]}" "${extra[@]}" -timeout=1 -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 | grep -E '^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|==|SUMMARY|thread .* panicked|Test unit written)' || true
    if ls "artifacts/$t"/* > /dev/null 2>&1; then
        echo "$t: failing input(s) in fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
