#!/usr/bin/env bash
# The long fuzz run (docs/testing.md, "Fuzzing"): every libFuzzer target in tests/fuzz/ for N seconds
# each (default 600), built with clang, ASan and UBSan in build-fuzz/ as scripts/test.sh builds them.
#
#   scripts/fuzz-long.sh [SECONDS] [TARGET...]      e.g.  nice -n 10 scripts/fuzz-long.sh 60
#
# Each target starts from its corpus in tests/fuzz/corpus/<corpus>/ and writes what it finds into a
# scratch directory; afterwards the finds are merged back into the repo's corpus with -merge=1
# -use_counters=0 (only inputs that reach new edges are kept; review and commit them). A crash, an
# invariant broken (abort), a sanitizer report, an input slower than 10 s or running out of memory stops
# that target, leaves the input in build-fuzz/fuzz-long/crashes/<target>/, prints the command that
# reproduces it, and makes the script exit 1 once the other targets have run. Per-target figures go to
# build-fuzz/fuzz-long/summary.txt.
#
# One libFuzzer process per target, one target at a time (one core). Environment: KABAR_FUZZ_BUILD_JOBS
# (build parallelism, default: all cores), KABAR_FUZZ_NO_MERGE=1 (leave the repo's corpus alone).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
shift || true
# ctest name -> corpus directory and -max_len (the policy files and signed tokens need more than 4 KiB).
declare -A corpus_of=(
  [authz_fuzz_token]=token [authz_fuzz_policy]=policy
  [gateway_fuzz_sse_query]=sse_query [gateway_fuzz_ws_message]=ws_message
  [gateway_fuzz_pusher_message]=pusher_message [gateway_fuzz_rest_body]=rest_body
  [bridge_fuzz_mqtt_envelope]=mqtt_envelope [gateway_fuzz_ws_frame]=ws_frame
)
declare -A max_len_of=([authz_fuzz_token]=9000 [authz_fuzz_policy]=12000)
all_targets=(authz_fuzz_token authz_fuzz_policy gateway_fuzz_sse_query gateway_fuzz_ws_message
             gateway_fuzz_pusher_message gateway_fuzz_rest_body bridge_fuzz_mqtt_envelope gateway_fuzz_ws_frame)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  [ -n "${corpus_of[$target]:-}" ] || { echo "fuzz-long: unknown target $target (known: ${all_targets[*]})" >&2; exit 2; }
done

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKABAR_FUZZ=ON -DKABAR_SANITIZE=ON -DKABAR_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz --parallel "${KABAR_FUZZ_BUILD_JOBS:-$(nproc)}" --target "${targets[@]}"

out=build-fuzz/fuzz-long
mkdir -p "$out"
# Leaks are not checked (the servers' singletons live until exit); any UBSan report is a failure.
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

failed=0
summary="$out/summary.txt"
printf '%-28s %6s %12s %9s %7s %7s %7s %s\n' target seconds execs execs/s cov ft corpus crashes >"$summary"
for target in "${targets[@]}"; do
  binary="build-fuzz/tests/fuzz/$target"
  corpus="tests/fuzz/corpus/${corpus_of[$target]}"
  work="$out/work/$target"
  crashes="$out/crashes/$target"
  log="$out/$target.log"
  mkdir -p "$work" "$crashes"
  echo "== $target: ${seconds}s from $corpus (log: $log)"
  status=0
  "$binary" -max_total_time="$seconds" -max_len="${max_len_of[$target]:-4096}" -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "$corpus" >"$log" 2>&1 || status=$?

  found=$(find "$crashes" -type f | wc -l)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  [ -n "$execs" ] || execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
  rate=$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))

  if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
    failed=1
    echo "!! $target failed (exit $status, $found input(s) in $crashes):"
    grep -E 'ERROR: |runtime error:|deadly signal|==ABORTING|Test unit written' "$log" | head -5 || true
    for file in "$crashes"/*; do
      [ -e "$file" ] || continue
      echo "   reproduce: ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $binary $file"
      echo "   then, once fixed, keep it as a regression seed: cp $file $corpus/regression-<what>"
    done
  fi

  if [ "${KABAR_FUZZ_NO_MERGE:-0}" != 1 ]; then
    # Keeps, out of what the run found, only the inputs that reach code (edges) the repo's corpus does
    # not: without -use_counters=0 every new hit count would count too, hundreds of files per target.
    before=$(find "$corpus" -type f | wc -l)
    "$binary" -merge=1 -use_counters=0 -max_len="${max_len_of[$target]:-4096}" -timeout=10 "$corpus" "$work" \
      >>"$log" 2>&1 || echo "!! $target: merging the new inputs failed (see $log)"
    after=$(find "$corpus" -type f | wc -l)
    echo "   corpus $corpus: $before -> $after inputs"
  fi
  printf '%-28s %6s %12s %9s %7s %7s %7s %s\n' "$target" "$seconds" "${execs:-?}" "$rate" "$cov" "$ft" \
    "$(find "$corpus" -type f | wc -l)" "$found" >>"$summary"
done

echo
cat "$summary"
exit "$failed"
