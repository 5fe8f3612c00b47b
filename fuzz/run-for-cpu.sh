#!/usr/bin/env bash
# Runs one built fuzz target until it has used a given amount of CPU time (libFuzzer's
# -max_total_time counts wall time, which a busy machine stretches), then stops it with
# SIGINT so that libFuzzer prints its final statistics. The corpus grows in corpus/TARGET,
# seeded from regressions/TARGET; crashes go to artifacts/TARGET/.
#
#   RUSTC_BOOTSTRAP=1 cargo fuzz build -O            # or -s none for evtx (see README)
#   fuzz/run-for-cpu.sh json 1800                    # 30 CPU-minutes
#   FUZZ_BINARY=path/to/evtx fuzz/run-for-cpu.sh evtx 1800
#
# Prints one line at the end: CPU and wall seconds, runs, coverage (edges and features),
# corpus size and crashes found.
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?usage: run-for-cpu.sh TARGET CPU_SECONDS [libFuzzer flags...]}"
limit="${2:?usage: run-for-cpu.sh TARGET CPU_SECONDS [libFuzzer flags...]}"
shift 2
binary="${FUZZ_BINARY:-target/$(rustc -vV | sed -n 's/^host: //p')/release/$target}"
[ -x "$binary" ] || { echo "error: no fuzz binary at $binary (build it first)" >&2; exit 2; }
mkdir -p "corpus/$target" "artifacts/$target"
log="artifacts/$target/run.log"
start=$(date +%s)
"$binary" "corpus/$target" "regressions/$target" -artifact_prefix="artifacts/$target/" \
    -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 "$@" > "$log" 2>&1 &
pid=$!
ticks_per_second=$(getconf CLK_TCK)
cpu=0
while kill -0 "$pid" 2> /dev/null; do
    # utime + stime of every thread of the process, in clock ticks.
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2> /dev/null || echo 0)
    cpu=$((ticks / ticks_per_second))
    if [ "$cpu" -ge "$limit" ]; then
        kill -INT "$pid"
        break
    fi
    sleep 5
done
status=0
wait "$pid" || status=$?
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
crashes=$(find "artifacts/$target" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
echo "$target: exit $status, ${cpu} CPU s, $(( $(date +%s) - start )) wall s, ${runs:-?} runs, $(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' <<< "$last"), $crashes crashes (log: fuzz/$log)"
