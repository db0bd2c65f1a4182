#!/usr/bin/env bash
# The long fuzz campaign (issue 12): each target given runs until 10 million executions or 30 minutes, whichever
# comes first, growing its own corpus in corpus/<target> (not committed) from the committed seeds/<target>.
# A crash does not stop the campaign: the target's line says CRASH and the input is in artifacts/<target>.
#
#   bash fuzz/campaign.sh pusher_decode pusher_client      # one queue; run two queues on two cores
#   RUNS=1000000 SECONDS_PER_TARGET=60 bash fuzz/campaign.sh doshii_hub
#
# Build: no sanitizer, debug assertions on. Our crates forbid unsafe code, so AddressSanitizer mostly guards
# dependencies and halves the rate; debug assertions turn integer overflow into a crash, which is the class
# of bug safe Rust can still have. `.ci/run` keeps the default (ASan) build for its 30 s smoke.
# The summary line per target goes to logs/summary.txt; the full libFuzzer log to logs/<target>.log.
set -uo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
RUNS=${RUNS:-10000000}
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-1800}
flags=(-s none -a -O --target-dir target/campaign)
mkdir -p logs
cargo fuzz build "${flags[@]}" >/dev/null 2>&1 || { cargo fuzz build "${flags[@]}"; exit 1; }
for target in "$@"; do
  proto=${target%%_*}
  mkdir -p "corpus/$target" "seeds/$target"
  dict=()
  [ -f "dict/$proto.dict" ] && dict=("-dict=dict/$proto.dict")
  log=logs/$target.log
  start=$(date +%s)
  cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
    -runs="$RUNS" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
    "${dict[@]}" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  final=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+')
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  status=ok; [ $rc -eq 0 ] || status="CRASH(rc=$rc)"
  printf '%s %-20s %s execs=%s secs=%s %s peak_rss_mb=%s\n' "$(date -u +%FT%TZ)" "$target" "$status" \
    "${execs:-?}" "$secs" "${final:-?}" "${rss:-?}" | tee -a logs/summary.txt
done
