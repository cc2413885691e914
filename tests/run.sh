#!/usr/bin/env bash
# Runs every suite and ends with one aggregate line "tests: N passed, N
# failed[, N skipped]". Exits non-zero if anything failed or nothing ran.
#
#   BUILD       the normal build directory (default build)
#   ASAN_BUILD  an ASan + UBSan build: unit tests run there too and the
#               end-to-end suite drives its daemons (default: none)
#   SK_SUITES   which suites to run (default "unit fuzz-replay agent sim
#               e2e"; fuzz-replay: tests/fuzz's corpus and regressions)
#   SK_TEST_PORT_BASE  first of the loopback ports the suites use (default
#               35100: the bed's registry; +100 and +101 the e2e stack's
#               registry and simulator), so two runs on one host do not collide
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-}
SUITES=${SK_SUITES:-unit fuzz-replay agent sim e2e}
PY=/usr/bin/python3
PORT_BASE=${SK_TEST_PORT_BASE:-35100}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0
LOGDIR=$(mktemp -d /tmp/sk-tests.XXXXXX)

count() {
	TOTAL_PASS=$((TOTAL_PASS + $2))
	TOTAL_FAIL=$((TOTAL_FAIL + $3))
	TOTAL_SKIP=$((TOTAL_SKIP + ${4:-0}))
	echo "$1: $2 passed, $3 failed, ${4:-0} skipped"
}

# Unit tests: each cmocka binary in TAP form; "ok"/"not ok" lines count.
run_unit() {
	local dir=$1 label=$2 pass=0 fail=0 skip=0 t out rc
	for t in "$dir"/tests/t_*; do
		[ -x "$t" ] || continue
		out="$LOGDIR/$(basename "$t").$label.log"
		(cd "$ROOT" && CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$t") >"$out" 2>&1
		rc=$?
		local p f s
		p=$(grep -E '^ok [0-9]' "$out" | grep -vc '# SKIP')
		s=$(grep -E '^(not )?ok [0-9]' "$out" | grep -c '# SKIP')
		f=$(grep -E '^not ok [0-9]' "$out" | grep -vc '# SKIP')
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1 # crashed or failed outside a test case
		fi
		[ "$f" -gt 0 ] && { echo "--- $(basename "$t") ($label) failed:"; tail -30 "$out"; }
		pass=$((pass + p))
		fail=$((fail + f))
		skip=$((skip + s))
	done
	count "$label" "$pass" "$fail" "$skip"
}

# pytest summary "N passed, N failed, N skipped" parsed from its last line.
run_pytest() {
	local label=$1
	shift
	local out="$LOGDIR/$label.log" last p f s e
	"$PY" -m pytest -q -p no:cacheprovider "$@" >"$out" 2>&1
	local rc=$?
	last=$(grep -E '(passed|failed|error|skipped|no tests ran)' "$out" | tail -1)
	p=$(echo "$last" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
	f=$(echo "$last" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
	e=$(echo "$last" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+' || echo 0)
	s=$(echo "$last" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+' || echo 0)
	f=$((f + e))
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ "$f" -gt 0 ]; then
		echo "--- $label failures:"
		grep -E '^(FAILED|ERROR)' "$out" | head -40
		tail -60 "$out"
	fi
	count "$label" "$p" "$f" "$s"
}

# Every fuzz harness's committed corpus and regression inputs, replayed
# through its replay build (tests/fuzz/replay.c); an input named in
# tests/fuzz/KNOWN is skipped. Each input counts once.
run_fuzz_replay() {
	local dir=$1 pass=0 fail=0 skip=0 bin t f out
	local -a inputs
	for bin in "$dir"/tests/fuzz/fuzz_*; do
		[ -x "$bin" ] || continue
		t=${bin##*/fuzz_}
		inputs=()
		for f in tests/fuzz/corpus/"$t"/* tests/fuzz/regress/"$t"/*; do
			[ -f "$f" ] || continue
			if grep -qE "^$t/${f##*/}([[:space:]]|$)" tests/fuzz/KNOWN 2>/dev/null; then
				skip=$((skip + 1))
			else
				inputs+=("$f")
			fi
		done
		[ ${#inputs[@]} -eq 0 ] && continue
		out="$LOGDIR/fuzz-replay-$t.log"
		if timeout 300 "$bin" "${inputs[@]}" >"$out" 2>&1; then
			pass=$((pass + ${#inputs[@]}))
			continue
		fi
		# Something failed: one input at a time says which.
		for f in "${inputs[@]}"; do
			if timeout 60 "$bin" "$f" >"$out" 2>&1; then
				pass=$((pass + 1))
			else
				fail=$((fail + 1))
				echo "--- fuzz-replay $t $f failed:"
				tail -30 "$out"
			fi
		done
	done
	count fuzz-replay "$pass" "$fail" "$skip"
}

BED_DIR=""
bed_up() {
	[ -n "$BED_DIR" ] && return 0
	BED_DIR="$LOGDIR/bed"
	export SK_REGISTRY_PORT=$PORT_BASE
	if ! tests/bed/bed.sh up "$BED_DIR" >"$LOGDIR/bed.log" 2>&1; then
		tail -30 "$LOGDIR/bed.log"
		return 1
	fi
	# shellcheck disable=SC1091
	. "$BED_DIR/bed.env"
	export SK_ENGINE_HOST SK_REGISTRY
}

cleanup() {
	if [ -n "${E2E_RUN:-}" ]; then
		SK_RUN=$E2E_RUN BUILD=$E2E_BUILD deploy/local.sh down >/dev/null 2>&1
	fi
	[ -n "$BED_DIR" ] && tests/bed/bed.sh down "$BED_DIR" >/dev/null 2>&1
}
trap cleanup EXIT

for suite in $SUITES; do
	case "$suite" in
	unit)
		run_unit "$BUILD" unit
		[ -n "$ASAN_BUILD" ] && run_unit "$ASAN_BUILD" unit-asan
		;;
	fuzz-replay)
		run_fuzz_replay "${ASAN_BUILD:-$BUILD}"
		;;
	agent)
		run_pytest agent tests/agent
		;;
	sim)
		if bed_up; then
			run_pytest sim tests/sim/aws
		else
			count sim 0 1
		fi
		;;
	e2e)
		E2E_BUILD=${ASAN_BUILD:-$BUILD}
		E2E_RUN="$LOGDIR/local"
		if [ "${SK_VALGRIND:-0}" = 1 ]; then
			# make valgrind: both daemons under memcheck; any error
			# or definite leak fails the suite below.
			mkdir -p "$E2E_RUN"
			export SK_WRAP="valgrind --leak-check=full --errors-for-leak-kinds=definite --log-file=$E2E_RUN/valgrind-%p.log"
		fi
		if SK_RUN=$E2E_RUN BUILD=$E2E_BUILD SK_REGISTRY_PORT=$((PORT_BASE + 100)) \
			SK_SIM_PORT=$((PORT_BASE + 101)) deploy/local.sh up >"$LOGDIR/up.log" 2>&1; then
			SK_TARGET=sockerless SK_DOCKER_HOST="unix://$E2E_RUN/docker.sock" \
				SK_RUN_DIR=$E2E_RUN SK_BUILD=$E2E_BUILD \
				run_pytest e2e tests/e2e tests/blackbox
			# The same frontend and client, the backend swapped to Lambda.
			if SK_RUN=$E2E_RUN BUILD=$E2E_BUILD deploy/local.sh \
				restart-backend lambda >>"$LOGDIR/up.log" 2>&1; then
				SK_TARGET=sockerless SK_BACKEND=lambda SK_SIM_PORT=$((PORT_BASE + 101)) \
					SK_REGISTRY=127.0.0.1:$((PORT_BASE + 100)) \
					SK_DOCKER_HOST="unix://$E2E_RUN/docker.sock" \
					SK_RUN_DIR=$E2E_RUN SK_BUILD=$E2E_BUILD \
					run_pytest e2e-lambda tests/e2e_lambda
			else
				tail -20 "$LOGDIR/up.log" "$E2E_RUN/backend.log"
				count e2e-lambda 0 1
			fi
			# Stop the daemons now (keeping their logs), so what they
			# report at exit (LeakSanitizer, valgrind) is checked too.
			SK_KEEP_RUN=1 SK_RUN=$E2E_RUN BUILD=$E2E_BUILD \
				deploy/local.sh down >/dev/null 2>&1
			for v in "$E2E_RUN"/valgrind-*.log; do
				[ -e "$v" ] || continue
				if grep -q 'ERROR SUMMARY: [1-9]' "$v"; then
					echo "--- valgrind errors in $v:"
					head -80 "$v"
					count valgrind 0 1
				else
					count valgrind 1 0
				fi
			done
			for f in frontend backend; do
				if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' \
					"$E2E_RUN/$f.log" 2>/dev/null; then
					echo "--- sanitizer report in $f.log:"
					grep -A30 -E 'Sanitizer|runtime error' "$E2E_RUN/$f.log" | head -60
					count "$f-sanitizer" 0 1
				fi
			done
		else
			cat "$LOGDIR/up.log"
			count e2e 0 1
		fi
		;;
	esac
done

echo "tests: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
[ "$TOTAL_FAIL" -eq 0 ] && [ "$TOTAL_PASS" -gt 0 ]
