#!/usr/bin/env bash
# Build the fuzz targets of fuzz/ with libFuzzer's coverage instrumentation on the stable
# toolchain (the flags cargo-fuzz passes, without a sanitizer: the code under test forbids
# unsafe), then run each target in turn, one at a time.
#
#   scripts/fuzz.sh time SECONDS [TARGET...]   run each target (default: all) for SECONDS
#   scripts/fuzz.sh runs N [TARGET...]         run each target for N inputs
#   FUZZ_RULES_ONLY=1 scripts/fuzz.sh ...      every target but event_route, which alone needs
#                                              the application crate (and the AWS SDK) built
#
# The corpus of a target is fuzz/corpus/<target> (grown by the runs, git-ignored), read with
# the seeds scripts/fuzz_seed.py writes from the test data. A panic, an input that takes more
# than 1 s, or more than 2 GB of memory stops the target and leaves the input in
# fuzz/artifacts/<target>/ (its log: fuzz/artifacts/<target>.log). Exit status: non-zero
# when any target found something.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
RULES_TARGETS=(policy_document credential_report authorization_details password_policy account_summary
  server_certificates virtual_mfa_devices settings audit)
FEATURES=(--features event)
ALL=("${RULES_TARGETS[@]}" event_route)
if [ -n "${FUZZ_RULES_ONLY:-}" ]; then FEATURES=(); ALL=("${RULES_TARGETS[@]}"); fi

build() {
  # --target keeps the instrumentation off build scripts and proc macros, as cargo-fuzz does.
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing" \
    cargo build --quiet --release --locked --target "$TRIPLE" --bins "${FEATURES[@]}"
}

run() {
  local mode="$1" amount="$2"; shift 2
  local targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")
  local limit failed=()
  python3 ../scripts/fuzz_seed.py
  for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    if [ "$mode" = runs ]; then limit=-runs="$amount"; else limit=-max_total_time="$amount"; fi
    echo "== fuzz $t ($mode $amount)"
    if ! "$TARGET_DIR/$TRIPLE/release/$t" "corpus/$t" "seeds/$t" -artifact_prefix="artifacts/$t/" \
        -timeout=1 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "$limit" > "artifacts/$t.log" 2>&1; then
      failed+=("$t")
      grep -E '^==[0-9]+== ERROR|^SUMMARY|panicked at' "artifacts/$t.log" | head -5 || true
    fi
    sed -n 's/^stat::number_of_executed_units: */   inputs run: /p; s/^stat::average_exec_per_sec: */   inputs per second: /p;
      s/^stat::slowest_unit_time_sec: */   slowest input (s): /p; s/^stat::peak_rss_mb: */   peak memory (MB): /p' "artifacts/$t.log"
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/<target>/, logs in fuzz/artifacts/<target>.log)" >&2
    exit 1
  fi
}

case "${1:-}" in
  time | runs) mode="$1"; amount="${2:?how many}"; shift 2; build; run "$mode" "$amount" "$@" ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
