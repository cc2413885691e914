#!/usr/bin/env bash
# Runs every suite and ends with one aggregate line "tests: N passed, N
# failed, N skipped, N xfailed, N xpassed" (each suite prints the same
# counts). Exits non-zero if anything failed or nothing ran.
#
#   BUILD       the normal build directory (default build)
#   ASAN_BUILD  an ASan + UBSan build: unit tests run there too (suite
#               unit-asan) and the end-to-end suites drive its daemons
#               (default: none)
#   SK_SUITES   which suites to run (default "unit [unit-asan] fuzz-replay
#               agent sim e2e e2e-lambda e2e-cloudrun e2e-gcf e2e-aca
#               e2e-azfunc deploy deb"; fuzz-replay: tests/fuzz's corpus and
#               regressions; e2e-lambda, e2e-cloudrun, e2e-gcf, e2e-aca,
#               e2e-azfunc: the e2e stack's backend swapped to Lambda, Cloud
#               Run, Cloud Run functions, Container Apps jobs, Azure
#               Functions); deploy: the images of BUILD (make images)
#               and deploy/compose.yaml on the e2e stack's bed engine and
#               AWS simulator (tests/deploy); deb: the Debian packages of BUILD (lintian,
#               contents, maintainer scripts in a Debian 12 chroot,
#               tests/deb/test_deb.py); deb-boot (not by default, make
#               check-deb): them booted under systemd-nspawn, its own
#               simulator stack on +160..+166. The unit suites start the test bed:
#               t_reg's live tests pull from its registry and engine.
#   SK_LANES    with the default suites, 2 (the default) runs them in two
#               lanes side by side, each with its own test bed, stack and
#               ports (the second lane at SK_TEST_PORT_BASE+200): lane 1
#               the unit, fuzz, agent, simulator, ECS, Lambda, deploy and
#               deb suites, lane 2 the Cloud Run, gcf, ACA and azfunc ones
#               (LANE1_SUITES and LANE2_SUITES below). 1 runs them one
#               after the other. SK_SUITES always runs in one lane.
#   SK_TEST_PORT_BASE  first of the loopback ports the suites use (default
#               35100: the bed's registry; +100 and +101 the e2e stack's
#               registry and AWS simulator, +102 its GCP simulator, +103 the
#               GCP simulator's Artifact Registry host, +104 the backends'
#               agent callback listener, +105 its Azure simulator, +106 the
#               Azure simulator's Container Registry host; +175 the UDP
#               test's server; +190..+199 the e2e suite's published host
#               ports; the second lane the same at +200), so two runs on
#               one host do not collide
#
# The e2e stack's simulators log every call they serve (SK_SIM_CALL_LOG_DIR,
# deploy/local.sh); after each e2e suite, tests/deploy/check_policies.py
# checks that the backend's calls of that suite are allowed by its policy
# in deploy/iam (suite policy-<backend>). A backend's calls are told apart
# by its User-Agent (sockerless-backend-<name>/<version>), so the suites'
# own swaps of the backend need no care.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-}
# The two lanes of the default run. Cloud Run's and Container Apps'
# workloads share the host's network on their simulators (a busybox httpd
# of the cloudrun suite would find the aca suite's on its port), so both
# are in lane 2, one after the other; ECS tasks have network namespaces of
# their own.
LANE1_SUITES="unit${ASAN_BUILD:+ unit-asan} fuzz-replay agent sim e2e e2e-lambda deploy deb"
LANE2_SUITES="e2e-cloudrun e2e-gcf e2e-aca e2e-azfunc"
SUITES=${SK_SUITES:-$LANE1_SUITES $LANE2_SUITES}
LANES=1
if [ -z "${SK_SUITES:-}" ] && [ "${SK_LANES:-2}" = 2 ]; then
	LANES=2
fi
PY=/usr/bin/python3
PORT_BASE=${SK_TEST_PORT_BASE:-35100}
# The suites pick their loopback ports from it (fake agents, published ports).
export SK_TEST_PORT_BASE=$PORT_BASE
# The window PORT_BASE..+199 (+399 with two lanes) sits in Linux's default ephemeral range
# (32768-60999): while the run lasts, the kernel is told not to hand its
# ports to outgoing connections (ip_local_reserved_ports, needs root), so
# a test's listener never finds its port taken by some client's socket.
RESERVED_FILE=/proc/sys/net/ipv4/ip_local_reserved_ports
RESERVED_WAS=""
if [ -w "$RESERVED_FILE" ]; then
	RESERVED_WAS=$(cat "$RESERVED_FILE")
	echo "${RESERVED_WAS:+$RESERVED_WAS,}$PORT_BASE-$((PORT_BASE + LANES * 200 - 1))" >"$RESERVED_FILE" 2>/dev/null ||
		RESERVED_FILE=""
else
	RESERVED_FILE=""
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The backends drop the document of a stopped container idle for this long
# and read it back from the store at its next use (doc_idle_ms,
# docs/scale.md): 100 ms instead of 30 s, so that every suite goes through
# cold documents, not only t_fw_cold.
export SOCKERLESS_DOC_IDLE_MS=${SOCKERLESS_DOC_IDLE_MS:-100}

TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0 TOTAL_XFAIL=0 TOTAL_XPASS=0
LOGDIR=$(mktemp -d /tmp/sk-tests.XXXXXX)

# count LABEL PASSED FAILED [SKIPPED [XFAILED [XPASSED]]]
count() {
	TOTAL_PASS=$((TOTAL_PASS + $2))
	TOTAL_FAIL=$((TOTAL_FAIL + $3))
	TOTAL_SKIP=$((TOTAL_SKIP + ${4:-0}))
	TOTAL_XFAIL=$((TOTAL_XFAIL + ${5:-0}))
	TOTAL_XPASS=$((TOTAL_XPASS + ${6:-0}))
	echo "$1: $2 passed, $3 failed, ${4:-0} skipped, ${5:-0} xfailed, ${6:-0} xpassed"
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

# One count from pytest's summary line: "4" for "passed" in "1 failed, 4
# passed, 1 xpassed in 2.0s" (word-bounded: "passed" is not "xpassed").
pytest_num() {
	local n
	n=$(echo "$1" | grep -oE "(^|[ ,])[0-9]+ $2" | grep -oE '[0-9]+' | head -1)
	echo "${n:-0}"
}

# pytest summary "N passed, N failed, N skipped, N xfailed, N xpassed, N
# errors" parsed from its last line.
run_pytest() {
	local label=$1
	shift
	local out="$LOGDIR/$label.log" last p f s e xf xp
	"$PY" -m pytest -q -p no:cacheprovider "$@" >"$out" 2>&1
	local rc=$?
	last=$(grep -E '(passed|failed|error|skipped|xfailed|xpassed|no tests ran)' "$out" | tail -1)
	p=$(pytest_num "$last" passed)
	f=$(pytest_num "$last" failed)
	e=$(pytest_num "$last" 'errors?')
	s=$(pytest_num "$last" skipped)
	xf=$(pytest_num "$last" xfailed)
	xp=$(pytest_num "$last" xpassed)
	f=$((f + e))
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ "$f" -gt 0 ]; then
		echo "--- $label failures:"
		grep -E '^(FAILED|ERROR)' "$out" | head -40
		tail -60 "$out"
	fi
	count "$label" "$p" "$f" "$s" "$xf" "$xp"
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

# The tests/e2e files (Docker's container suite) that the e2e-cloudrun and
# e2e-aca suites run against cloudrun and aca after tests/e2e_cloudrun and
# tests/e2e_aca: every one, as on ECS (about 12 and 18 minutes on 2
# cores). SK_RELAY_FILES names fewer (file names in tests/e2e) for a quicker
# run by hand.
E2E_RELAY_FILES=${SK_RELAY_FILES:-$(cd tests/e2e && echo test_*.py)}

# The simulators' call logs (aws.jsonl, gcp.jsonl, azure.jsonl).
CALLS_DIR="$LOGDIR/calls"

# check_policy BACKEND: every call the backend made so far is allowed by
# deploy/iam's policy for it (tests/deploy/check_policies.py).
check_policy() {
	local out="$LOGDIR/policy-$1.log"
	if "$PY" tests/deploy/check_policies.py --backend "$1" --calls "$CALLS_DIR" >"$out" 2>&1; then
		count "policy-$1" 1 0
	else
		echo "--- policy-$1 failed:"
		tail -40 "$out"
		count "policy-$1" 0 1
	fi
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
	# SK_ENGINE_HOST is the reference engine; the simulator's is
	# SK_SIM_ENGINE_HOST (tests/bed/bed.sh says why there are two)
	export SK_ENGINE_HOST SK_SIM_ENGINE_HOST SK_REGISTRY SK_REF_NETNS
}

# The e2e stack: local.sh's frontend and ECS backend (simulated cloud),
# up once for the e2e suites; e2e-lambda swaps its backend to Lambda.
# E2E_RC: 0 while it is up, 1 once it failed to start or was stopped.
E2E_RUN="" E2E_RC=0
e2e_up() {
	[ -n "$E2E_RUN" ] && return "$E2E_RC"
	E2E_BUILD=${ASAN_BUILD:-$BUILD}
	E2E_RUN="$LOGDIR/local"
	E2E_RC=1
	if [ "${SK_VALGRIND:-0}" = 1 ]; then
		# make valgrind: both daemons under memcheck; any error
		# or definite leak fails in e2e_down.
		mkdir -p "$E2E_RUN"
		export SK_WRAP="valgrind --leak-check=full --errors-for-leak-kinds=definite --log-file=$E2E_RUN/valgrind-%p.log"
	fi
	mkdir -p "$CALLS_DIR"
	if ! SK_SIM_CALL_LOG_DIR=$CALLS_DIR \
		SK_RUN=$E2E_RUN BUILD=$E2E_BUILD SK_REGISTRY_PORT=$((PORT_BASE + 100)) \
		SK_SIM_PORT=$((PORT_BASE + 101)) SK_GCP_SIM_PORT=$((PORT_BASE + 102)) \
		SK_GCP_AR_PORT=$((PORT_BASE + 103)) SK_CALLBACK_PORT=$((PORT_BASE + 104)) \
		SK_AZ_SIM_PORT=$((PORT_BASE + 105)) SK_AZ_ACR_PORT=$((PORT_BASE + 106)) \
		deploy/local.sh up >"$LOGDIR/up.log" 2>&1; then
		cat "$LOGDIR/up.log"
		return 1
	fi
	E2E_RC=0
}

# Stops the daemons (keeping their logs), so what they report at exit
# (LeakSanitizer, valgrind) is checked too.
e2e_down() {
	[ -n "$E2E_RUN" ] && [ "$E2E_RC" -eq 0 ] || return 0
	E2E_RC=1
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
}

LANE2_PID=""
cleanup() {
	if [ -n "$LANE2_PID" ]; then
		kill "$LANE2_PID" 2>/dev/null
		wait "$LANE2_PID" 2>/dev/null
	fi
	if [ -n "$E2E_RUN" ]; then
		SK_RUN=$E2E_RUN BUILD=$E2E_BUILD deploy/local.sh down >/dev/null 2>&1
	fi
	[ -n "$BED_DIR" ] && tests/bed/bed.sh down "$BED_DIR" >/dev/null 2>&1
	[ -n "$RESERVED_FILE" ] && echo "$RESERVED_WAS" >"$RESERVED_FILE" 2>/dev/null
	return 0
}
trap cleanup EXIT

# Unit tests need the bed too: t_reg's t_live and t_live_derive resolve,
# pull and push through its registry and check the result with its engine.
# A FaaS backend swapped in under the running frontend: its own
# tests/e2e_<backend> as suite e2e-<backend>. $1 the backend; $2 and $3
# (optional) the variable naming its simulator's port and the port.
faas_suite() {
	local backend=$1
	[ -n "${2:-}" ] && local -x "$2=$3"

	if e2e_up && SK_RUN=$E2E_RUN BUILD=$E2E_BUILD deploy/local.sh \
		restart-backend "$backend" >>"$LOGDIR/up.log" 2>&1; then
		SK_TARGET=sockerless SK_BACKEND=$backend SK_SIM_PORT=$((PORT_BASE + 101)) \
			SK_REGISTRY=127.0.0.1:$((PORT_BASE + 100)) \
			SK_DOCKER_HOST="unix://$E2E_RUN/docker.sock" \
			SK_RUN_DIR=$E2E_RUN SK_BUILD=$E2E_BUILD \
			run_pytest "e2e-$backend" "tests/e2e_$backend"
		check_policy "$backend"
	else
		tail -n 40 "$LOGDIR/up.log" "$E2E_RUN/backend.log" 2>/dev/null
		count "e2e-$backend" 0 1
	fi
}

# A backend of relay-mode jobs with the reverse agent link (cloudrun, aca)
# swapped in under the running frontend: its own tests/e2e_<backend>, then,
# in a pytest run of its own (both directories have a conftest with the
# same fixtures), the tests/e2e files of its list. $1 the backend, $2 the
# suite, $3 and $4 the variable naming its simulator's port and the port,
# $5 the tests/e2e files.
relay_suite() {
	local backend=$1 suite=$2 files=() ref_host ref_netns f
	local -x "$3=$4"

	if e2e_up && SK_RUN=$E2E_RUN BUILD=$E2E_BUILD deploy/local.sh \
		restart-backend "$backend" >>"$LOGDIR/up.log" 2>&1; then
		SK_TARGET=sockerless SK_BACKEND=$backend \
			SK_REGISTRY=127.0.0.1:$((PORT_BASE + 100)) \
			SK_TEST_PORT_BASE=$PORT_BASE \
			SK_DOCKER_HOST="unix://$E2E_RUN/docker.sock" \
			SK_RUN_DIR=$E2E_RUN SK_BUILD=$E2E_BUILD \
			run_pytest "$suite" "tests/e2e_$backend"
		ref_host=$(. "$E2E_RUN/bed/bed.env" && echo "$SK_ENGINE_HOST")
		ref_netns=$(. "$E2E_RUN/bed/bed.env" && echo "$SK_REF_NETNS")
		for f in $5; do files+=("tests/e2e/$f"); done
		SK_TARGET=sockerless SK_BACKEND=$backend \
			SK_REGISTRY=127.0.0.1:$((PORT_BASE + 100)) \
			SK_TEST_PORT_BASE=$PORT_BASE SK_REF_NETNS=$ref_netns \
			SK_REF_DOCKER_HOST=$ref_host \
			SK_DOCKER_HOST="unix://$E2E_RUN/docker.sock" \
			SK_RUN_DIR=$E2E_RUN SK_BUILD=$E2E_BUILD \
			run_pytest "$suite-containers" "${files[@]}"
		check_policy "$backend"
	else
		tail -n 40 "$LOGDIR/up.log" "$E2E_RUN/backend.log" 2>/dev/null
		count "$suite" 0 1
	fi
}

unit_suite() {
	if ! bed_up; then
		count "$2-bed" 0 1
		return
	fi
	run_unit "$1" "$2"
}

# run_suite NAME: one suite of the current lane.
run_suite() {
	local suite=$1
	case "$suite" in
	unit)
		unit_suite "$BUILD" unit
		;;
	unit-asan)
		unit_suite "${ASAN_BUILD:-build-asan}" unit-asan
		;;
	fuzz-replay)
		run_fuzz_replay "${ASAN_BUILD:-$BUILD}"
		;;
	agent)
		run_pytest agent tests/agent
		;;
	deb)
		BUILD=$BUILD run_pytest deb tests/deb/test_deb.py
		;;
	deb-boot)
		BUILD=$BUILD SK_TEST_PORT_BASE=$PORT_BASE run_pytest deb-boot tests/deb/test_boot.py
		;;
	sim)
		if bed_up; then
			SK_ENGINE_HOST=$SK_SIM_ENGINE_HOST run_pytest sim tests/sim/aws
			# a pytest run of its own each: every directory has a
			# conftest of its own (two with a "sim" fixture)
			SK_ENGINE_HOST=$SK_SIM_ENGINE_HOST run_pytest sim-gcp tests/sim/gcp
			# test_azprobe runs tests/tools/azure_probe of this build
			SK_ENGINE_HOST=$SK_SIM_ENGINE_HOST SK_BUILD=${ASAN_BUILD:-$BUILD} \
				run_pytest sim-azure tests/sim/azure
		else
			count sim 0 1
		fi
		;;
	e2e)
		if e2e_up; then
			# The differential suite (tests/e2e/test_diff_*.py) also
			# drives the reference dockerd of the stack's test bed.
			REF_HOST=$(. "$E2E_RUN/bed/bed.env" && echo "$SK_ENGINE_HOST")
			REF_NETNS=$(. "$E2E_RUN/bed/bed.env" && echo "$SK_REF_NETNS")
			SK_REF_NETNS=$REF_NETNS SK_TEST_PORT_BASE=$PORT_BASE SK_TARGET=sockerless SK_DOCKER_HOST="unix://$E2E_RUN/docker.sock" \
				SK_REF_DOCKER_HOST=$REF_HOST \
				SK_RUN_DIR=$E2E_RUN SK_BUILD=$E2E_BUILD \
				run_pytest e2e tests/e2e tests/blackbox
			check_policy ecs
		else
			tail -n 40 "$LOGDIR/up.log" "$E2E_RUN/backend.log" 2>/dev/null
			count e2e 0 1
		fi
		;;
	e2e-lambda)
		# The same frontend and client, the backend swapped to Lambda.
		faas_suite lambda
		;;
	e2e-gcf)
		# The same frontend and client, the backend swapped to Cloud
		# Run functions (the GCP simulator of the same stack).
		faas_suite gcf SK_GCP_SIM_PORT $((PORT_BASE + 102))
		;;
	e2e-azfunc)
		# The same frontend and client, the backend swapped to Azure
		# Functions (the Azure simulator of the same stack).
		faas_suite azfunc SK_AZ_SIM_PORT $((PORT_BASE + 105))
		;;
	e2e-cloudrun)
		# The same frontend and client, the backend swapped to Cloud
		# Run (the GCP simulator runs beside the AWS one).
		relay_suite cloudrun e2e-cloudrun SK_GCP_SIM_PORT $((PORT_BASE + 102)) \
			"$E2E_RELAY_FILES"
		;;
	e2e-aca)
		# The same frontend and client, the backend swapped to
		# Container Apps jobs (the Azure simulator of the same stack).
		relay_suite aca e2e-aca SK_AZ_SIM_PORT $((PORT_BASE + 105)) \
			"$E2E_RELAY_FILES"
		;;
	deploy)
		# The images of the normal build and the compose project on the
		# e2e stack's bed engine (host network: the simulator is on
		# loopback), beside the stack's own daemons; sockerless-push of
		# the ASan build when there is one.
		if e2e_up; then
			SK_ENGINE_HOST=$(. "$E2E_RUN/bed/bed.env" && echo "$SK_SIM_ENGINE_HOST") \
				SK_BUILD=$BUILD SK_PUSH=${ASAN_BUILD:-$BUILD}/sockerless-push \
				SK_SIM_PORT=$((PORT_BASE + 101)) \
				SK_REGISTRY=127.0.0.1:$((PORT_BASE + 100)) \
				run_pytest deploy tests/deploy
		else
			tail -n 40 "$LOGDIR/up.log" 2>/dev/null
			count deploy 0 1
		fi
		;;
	*)
		echo "run.sh: unknown suite \"$suite\" (unit unit-asan fuzz-replay agent sim e2e e2e-lambda e2e-cloudrun e2e-gcf e2e-aca e2e-azfunc deploy)"
		count "$suite" 0 1
		;;
	esac
}

# run_lane SUITES: each suite in turn, then the lane's stack down (and
# what its daemons reported at exit checked).
run_lane() {
	local suite
	for suite in $1; do
		run_suite "$suite"
	done
	e2e_down
}

if [ "$LANES" = 1 ]; then
	run_lane "$SUITES"
else
	# Lane 2 in a subshell of its own: its own ports (+200), logs
	# ($LOGDIR/lane2), test bed and stack, and its own cleanup. Its
	# lines are printed once it ends; its totals are added to these.
	LANE2_PID=""
	(
		PORT_BASE=$((PORT_BASE + 200))
		export SK_TEST_PORT_BASE=$PORT_BASE
		LOGDIR="$LOGDIR/lane2"
		CALLS_DIR="$LOGDIR/calls"
		RESERVED_FILE=""
		TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0 TOTAL_XFAIL=0 TOTAL_XPASS=0
		mkdir -p "$LOGDIR"
		trap cleanup EXIT
		trap 'exit 143' TERM INT
		run_lane "$LANE2_SUITES"
		echo "$TOTAL_PASS $TOTAL_FAIL $TOTAL_SKIP $TOTAL_XFAIL $TOTAL_XPASS" >"$LOGDIR/totals"
	) >"$LOGDIR/lane2.out" 2>&1 &
	LANE2_PID=$!
	run_lane "$LANE1_SUITES"
	wait "$LANE2_PID"
	LANE2_PID=""
	echo "--- lane 2 (SK_TEST_PORT_BASE $((PORT_BASE + 200))):"
	cat "$LOGDIR/lane2.out"
	if read -r p f sk xf xp <"$LOGDIR/lane2/totals" 2>/dev/null; then
		TOTAL_PASS=$((TOTAL_PASS + p)) TOTAL_FAIL=$((TOTAL_FAIL + f))
		TOTAL_SKIP=$((TOTAL_SKIP + sk)) TOTAL_XFAIL=$((TOTAL_XFAIL + xf))
		TOTAL_XPASS=$((TOTAL_XPASS + xp))
	else
		count lane2 0 1
	fi
fi

echo "tests: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped, $TOTAL_XFAIL xfailed, $TOTAL_XPASS xpassed"
[ "$TOTAL_FAIL" -eq 0 ] && [ "$TOTAL_PASS" -gt 0 ]
