#!/usr/bin/env bash
# Runs libFuzzer harnesses (make fuzz): each target for FUZZ_SECONDS over
# its committed corpus, niced. New inputs go to $FUZZ_BUILD/corpus/<t>,
# crashes to $FUZZ_BUILD/crashes/<t>/; one summary line per target:
#   fuzz <t>: N execs in S s, N crashes
# Exits non-zero when any target crashed. docs/fuzzing.md has the rest.
#
#   FUZZ_BUILD    where make fuzz built the harnesses (default build-fuzz)
#   FUZZ_SECONDS  per target (default 60)
#   FUZZ_JOBS     harnesses run at once (default 1)
#   FUZZ_ARGS     more libFuzzer flags
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-1}
# A 16 MB quarantine (256 MB by default) and no purge of the allocator
# every second (-purge_allocator_interval=-1 below): freed memory is
# reused while still mapped instead of faulted in again, which made the
# harnesses that allocate per input (an event loop, a tar extraction) 1.5
# to 2 times faster per CPU second. A use after free within an input is
# still caught: one input frees far less than 16 MB.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:quarantine_size_mb=16}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$ROOT/tests/fuzz/ubsan.supp}

fuzz_one() {
	local t=$1 bin="$FUZZ_BUILD/fuzz_$1" work="$FUZZ_BUILD/corpus/$1"
	local crashes="$FUZZ_BUILD/crashes/$1" log="$FUZZ_BUILD/log/$1.log"
	local execs secs n

	mkdir -p "$work" "$crashes" "$(dirname "$log")"
	# The tar harness drops root to nobody: its directories must be
	# nobody's to write.
	[ "$t" = agent_archive ] && [ "$(id -u)" = 0 ] &&
		chown -R 65534:65534 "$work" "$crashes"
	secs=$SECONDS
	# Fork mode keeps going after a crash, so one bug (a KNOWN one
	# included) does not hide the next; its "#N:" lines count the
	# executions of every job.
	# shellcheck disable=SC2086
	nice -n 19 "$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 \
		-ignore_ooms=1 -max_total_time="$FUZZ_SECONDS" -max_len=65536 \
		-timeout=10 -rss_limit_mb=2048 -purge_allocator_interval=-1 \
		-artifact_prefix="$crashes/" \
		${FUZZ_ARGS:-} "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
	execs=$(grep -oE '^#[0-9]+:' "$log" | tr -d '#:' | tail -1)
	# What crashed or killed jobs of the tar and proxy harnesses left
	# behind (a scratch directory, a socket).
	[ "$t" = agent_archive ] &&
		rm -rf /dev/shm/sk-fuzz-archive.* /tmp/sk-fuzz-archive.*
	[ "$t" = frontend_proxy ] &&
		rm -f /dev/shm/sk-fuzz-proxy.*.sock /tmp/sk-fuzz-proxy.*.sock
	n=$(find "$crashes" -type f | wc -l)
	echo "fuzz $t: ${execs:-0} execs in $((SECONDS - secs)) s, $n crashes"
	[ "$n" -eq 0 ]
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		f=${f##*/fuzz_}
		targets+=("${f%.c}")
	done
fi
rc=0
running=0
for t in "${targets[@]}"; do
	fuzz_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$FUZZ_JOBS" ]; then
		wait -n || rc=1
		running=$((running - 1))
	fi
done
while [ "$running" -gt 0 ]; do
	wait -n || rc=1
	running=$((running - 1))
done
exit $rc
