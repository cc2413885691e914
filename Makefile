# Sockerless: one non-recursive GNU make for every binary and test.
#
#   make                 build everything into build/
#   make SANITIZE=1      ASan + UBSan build into build-asan/
#   make check           format-check, lint, then unit, simulator and
#                        end-to-end tests (README)
#   make lint            import cycles (tests/lint/cycles.py), clang-tidy
#                        (.clang-tidy) and cppcheck
#                        (.cppcheck-suppressions) over every C file
#   make up / make down  start / stop the local default (simulated cloud)
#   make deb             the Debian packages (docs/packages.md); make
#                        check-deb boots them under systemd
#   make deps            install the Debian packages needed
#   make fuzz            libFuzzer over every parser, FUZZ_SECONDS each
#                        (docs/fuzzing.md)
#   make coverage        gcov line coverage of the backend framework by
#                        its unit tests (docs/testing.md)
#   make images          OCI images of the frontend, each backend and the
#                        agent into $(BUILD)/images (docs/images.md)

SHELL := /bin/bash
CC ?= cc
PKGS := libevent libevent_openssl libcurl libcjson yaml-0.1 openssl sqlite3

ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
OPT := -O1 -g
else
BUILD ?= build
SANFLAGS :=
OPT ?= -O2 -g
# Debian's hardening (dpkg-buildflags): fortified libc calls, stack
# protector, read-only relocations bound at start (lintian's
# hardening-no-bindnow/-no-fortify-functions).
HARDEN_CFLAGS := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection
HARDEN_LDFLAGS := -Wl,-z,relro -Wl,-z,now
endif

WARN := -std=gnu11 -Wall -Wextra -Werror -Wformat=2 -Wmissing-prototypes \
	-Wstrict-prototypes -Wmissing-declarations -Wshadow -Wpointer-arith \
	-Wwrite-strings -Wundef -Wvla -Wimplicit-fallthrough -fno-common
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS := $(OPT) $(WARN) $(SANFLAGS) $(HARDEN_CFLAGS) -D_GNU_SOURCE -Icommon/include \
	$(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(SANFLAGS) $(HARDEN_LDFLAGS) $(LDFLAGS)
LIBS := $(PKG_LIBS) -lz -lpthread -lm

# The layers (README, Layout), each a static library. A backend links all
# of them, highest first; the frontend links the base alone. A call from a
# lower layer into a higher one fails to link.
#   common/*.c          base: HTTP, JSON, config, store, ids, filters
#   common/lite/*.c     libc-only helpers, also compiled into the agent
#   common/aglink/      the agent link (backend's side and the framing)
#   common/reg/         OCI registry client
#   common/cloud/       cloud call core and its providers (AWS)
#   common/backend/     the backend framework: main(), the Docker model
COMMON_SRCS := $(wildcard common/*.c common/lite/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
LIBCOMMON := $(BUILD)/libcommon.a
LAYERS := backend cloud reg aglink
LAYER_SRCS = $(wildcard common/$(1)/*.c)
LAYER_LIBS := $(LAYERS:%=$(BUILD)/libsk_%.a) $(LIBCOMMON)
BACKEND_LIB_SRCS := $(foreach l,$(LAYERS),$(call LAYER_SRCS,$(l)))

FRONTEND_SRCS := $(wildcard frontend/*.c)
FRONTEND_OBJS := $(FRONTEND_SRCS:%.c=$(BUILD)/%.o)

BACKENDS := $(patsubst backend-%,%,$(wildcard backend-*))
BACKEND_BINS := $(BACKENDS:%=$(BUILD)/sockerless-backend-%)

UNIT_SRCS := $(wildcard tests/unit/t_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Drivers the simulator tests run (tests/tools/*.c: the C cloud code
# against a simulator, e.g. azure_probe for tests/sim/azure).
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)

# sockerless-agent runs inside any user image, so it is static (musl),
# libc only, and built from its sources in one step. SANITIZE=1 does not
# apply to it: ASan/UBSan need glibc's dynamic runtime.
MUSL_CC ?= musl-gcc
# common/aglink/aglink_wire.c (the link's framing), aglink_seal.c (the sealed
# reverse link) and common/lite/ are
# compiled into both sides.
AGENT_SHARED_SRCS := common/aglink/aglink_wire.c common/aglink/aglink_seal.c $(wildcard common/lite/*.c)
AGENT_SRCS := $(wildcard agent/*.c) $(AGENT_SHARED_SRCS)
AGENT_CFLAGS := -static -Os -s -std=c11 -D_GNU_SOURCE -Icommon/include \
	$(filter-out -std=%,$(WARN))

PROGRAMS := $(BUILD)/sockerless-frontend $(BACKEND_BINS) \
	$(BUILD)/sockerless-agent $(BUILD)/sockerless-push

# Fuzz harnesses (docs/fuzzing.md): tests/fuzz/fuzz_<target>.c, built by
# `make fuzz` with clang's libFuzzer, and in every build linked to
# tests/fuzz/replay.c so `make check` replays their corpus and regressions.
# fuzz_agent_*.c harnesses link the agent's modules instead of libcommon,
# fuzz_frontend_*.c ones frontend/proxy.c with it.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY_BINS := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/fuzz_%)
# The agent's sources without its main, for the agent harnesses.
AGENT_LIB_SRCS := $(filter-out agent/agent.c,$(wildcard agent/*.c)) \
	$(AGENT_SHARED_SRCS)

.PHONY: all check check-deb check-cloudrun-all check-aca-all unit deps up down clean format format-check config-docs docs-check \
	lint lint-cycles lint-tidy lint-cppcheck bench valgrind deb fuzz fuzz-build \
	coverage images
all: $(PROGRAMS) $(UNIT_BINS) $(TOOL_BINS) $(FUZZ_REPLAY_BINS) \
    $(BUILD)/bench/httpload

# The load tool of bench/hop.sh: libc and pthreads only.
$(BUILD)/bench/httpload: $(BUILD)/bench/httpload.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lpthread

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJS)
	@rm -f $@
	ar rcs $@ $^

define layer_rule
$(BUILD)/libsk_$(1).a: $(patsubst %.c,$(BUILD)/%.o,$(call LAYER_SRCS,$(1)))
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rule,$(l))))

$(BUILD)/sockerless-frontend: $(FRONTEND_OBJS) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $(FRONTEND_OBJS) $(LIBCOMMON) $(LIBS)

# sockerless-push: an image of make images to a registry (docs/images.md);
# the registry client and the base only.
PUSH_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard deploy/push/*.c))
$(BUILD)/sockerless-push: $(PUSH_OBJS) $(BUILD)/libsk_reg.a $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $(PUSH_OBJS) $(BUILD)/libsk_reg.a $(LIBCOMMON) $(LIBS)

$(BUILD)/sockerless-agent: $(AGENT_SRCS) $(wildcard agent/*.h) \
    common/include/sockerless/aglink_wire.h \
    common/include/sockerless/aglink_seal.h $(wildcard common/lite/*.h)
	@mkdir -p $(@D)
	$(MUSL_CC) $(AGENT_CFLAGS) -o $@ $(AGENT_SRCS)

# Each backend-<name>/ directory becomes sockerless-backend-<name>.
define backend_rule
$(BUILD)/sockerless-backend-$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard backend-$(1)/*.c)) $(LAYER_LIBS)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(LAYER_LIBS) $$(LIBS)
endef
$(foreach b,$(BACKENDS),$(eval $(call backend_rule,$(b))))

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LAYER_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LAYER_LIBS) $(LIBS) -lcmocka

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LAYER_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LAYER_LIBS) $(LIBS)

# The framework's tests (tests/unit/t_fw_*.c) drive it through a fake
# backend (tests/unit/fake_*.c) linked into each of them.
FAKE_BACKEND_OBJS := $(patsubst %.c,$(BUILD)/%.o, \
	$(wildcard tests/unit/fake_*.c))
FW_TEST_BINS := $(filter $(BUILD)/tests/t_fw_%,$(UNIT_BINS))
$(FW_TEST_BINS): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o \
    $(FAKE_BACKEND_OBJS) $(LAYER_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LAYER_LIBS) $(LIBS) \
	    -lcmocka

# t_fw_agent runs its workloads under the real agent of the same build.
$(BUILD)/tests/t_fw_agent $(BUILD)/tests/t_fw_ports $(BUILD)/tests/t_fw_prestart \
    $(BUILD)/tests/t_fw_crstop \
    $(BUILD)/tests/t_fw_ports_relay $(BUILD)/tests/t_fw_docksock: \
    $(BUILD)/sockerless-agent

unit: $(UNIT_BINS)

# Replay builds: gcc (or the sanitizer build) with tests/fuzz/replay.c.
$(BUILD)/libagent.a: $(AGENT_LIB_SRCS:%.c=$(BUILD)/agentlib/%.o)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/agentlib/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/fuzz/fuzz_agent_%: $(BUILD)/tests/fuzz/fuzz_agent_%.o \
    $(BUILD)/tests/fuzz/replay.o $(BUILD)/libagent.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# fuzz_frontend_*.c harnesses add the frontend's relay (frontend/proxy.c).
$(BUILD)/tests/fuzz/fuzz_frontend_%: $(BUILD)/tests/fuzz/fuzz_frontend_%.o \
    $(BUILD)/tests/fuzz/replay.o $(BUILD)/frontend/proxy.o \
    $(BUILD)/frontend/pool.o $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o \
    $(BUILD)/tests/fuzz/replay.o $(LAYER_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# libFuzzer builds: clang, ASan + UBSan, everything in its own directory.
FUZZ_CC ?= clang-14
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
# Signed overflow is recoverable here only so tests/fuzz/ubsan.supp can
# suppress the KNOWN ones; run.sh still halts on every other report.
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fsanitize-recover=signed-integer-overflow -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g $(WARN) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	-D_GNU_SOURCE -Icommon/include $(PKG_CFLAGS)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libcommon.a: \
    $(COMMON_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o) \
    $(BACKEND_LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/libagent.a: $(AGENT_LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/agentlib/%.o)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/obj/agentlib/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_agent_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_agent_%.o \
    $(FUZZ_BUILD)/libagent.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)

$(FUZZ_BUILD)/fuzz_frontend_%: \
    $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_frontend_%.o \
    $(FUZZ_BUILD)/obj/frontend/proxy.o $(FUZZ_BUILD)/obj/frontend/pool.o \
    $(FUZZ_BUILD)/libcommon.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o \
    $(FUZZ_BUILD)/libcommon.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz-build: $(FUZZ_BINS)

# Runs each harness FUZZ_SECONDS over its committed corpus (new inputs go
# to $(FUZZ_BUILD)/corpus, crashes to $(FUZZ_BUILD)/crashes); FUZZ_TARGETS
# picks a subset. Nice'd: the machine is shared.
fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	    tests/fuzz/run.sh $(FUZZ_TARGETS)

# check builds twice: unit tests run on both builds, and the end-to-end
# suite drives the ASan + UBSan daemons.
check: deps
	$(MAKE) all
	$(MAKE) SANITIZE=1 all
	$(MAKE) format-check
	$(MAKE) docs-check
	$(MAKE) lint
	BUILD=$(BUILD) ASAN_BUILD=build-asan tests/run.sh

# One relay-mode suite alone (the whole container suite against cloudrun,
# or aca), on the ASan daemons: what make check runs in its second lane.
check-cloudrun-all: all
	$(MAKE) SANITIZE=1 all
	SK_SUITES=e2e-cloudrun BUILD=$(BUILD) ASAN_BUILD=build-asan tests/run.sh

check-aca-all: all
	$(MAKE) SANITIZE=1 all
	SK_SUITES=e2e-aca BUILD=$(BUILD) ASAN_BUILD=build-asan tests/run.sh

deps:
	deploy/deps.sh

# The configuration reference (docs/config/<daemon>.md) from each daemon's
# --help; docs-check: it is current, and the policy checker's own tests
# (tests/deploy) pass.
config-docs: all
	/usr/bin/python3 tools/gen_config_docs.py --build $(BUILD)

docs-check: all
	/usr/bin/python3 tools/gen_config_docs.py --build $(BUILD) --check
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/deploy

up: deps
	$(MAKE) all
	BUILD=$(BUILD) deploy/local.sh up $(BACKEND)

down:
	BUILD=$(BUILD) deploy/local.sh down

bench: all
	BUILD=$(BUILD) bench/run.sh

valgrind:
	$(MAKE) BUILD=build-valgrind OPT="-O0 -g" all
	BUILD=build-valgrind SK_VALGRIND=1 tests/run.sh

# Line coverage of the backend framework (common/backend/) by its unit
# tests (tests/unit/t_fw_*.c through the fake backend, t_kit.c for the
# backend kit): an -O0 --coverage build in build-cov/, the
# tests run once, gcov per file and in total (tests/coverage.sh).
COV_BUILD ?= build-cov
COV_TESTS := $(patsubst tests/unit/%.c,$(COV_BUILD)/tests/%, \
	$(wildcard tests/unit/t_fw_*.c tests/unit/t_kit.c))
coverage:
	find $(COV_BUILD) -name '*.gcda' -delete 2>/dev/null || true
	$(MAKE) BUILD=$(COV_BUILD) OPT="-O0 -g" CFLAGS="--coverage" \
	    LDFLAGS="--coverage" $(COV_TESTS)
	set -e; for t in $(COV_TESTS); do $$t >/dev/null; done
	tests/coverage.sh $(COV_BUILD) common/backend

# One .deb per daemon into $(BUILD)/deb (deploy/deb.sh, docs/packages.md).
deb: all
	BUILD=$(BUILD) deploy/deb.sh

# OCI layouts and `docker load` tarballs (docs/images.md); IMAGE_SOURCE sets
# org.opencontainers.image.source (default: the git remote origin).
IMAGE_SOURCE ?=
images: $(PROGRAMS)
	deploy/mkimage.py build --build $(BUILD) --out $(BUILD)/images \
	    $(if $(IMAGE_SOURCE),--source $(IMAGE_SOURCE))

# The packages in a clean Debian 12 root (debootstrap, cached in
# /var/cache/sockerless-deb): lintian, contents, maintainer scripts (the
# suite deb of make check), then booted under systemd-nspawn with the ECS
# and Lambda backends on the AWS simulator, the docker CLI through
# sockerless.socket (tests/deb/test_boot.py).
check-deb: all
	SK_SUITES="deb deb-boot" BUILD=$(BUILD) tests/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

# Static analysis of every C file (never only the changed ones: a change
# in a header is a finding in its users). clang-tidy runs LINT_JOBS files
# at a time; the agent is checked with the host's headers, as its fuzz
# and replay builds are. Any finding fails the target.
TIDY ?= clang-tidy-14
CPPCHECK ?= cppcheck
LINT_JOBS ?= 2
LINT_FLAGS := -std=gnu11 -D_GNU_SOURCE -Icommon/include -Iagent $(PKG_CFLAGS)
# cppcheck reads no system header, so it is given <sys/queue.h>'s TAILQ
# and LIST macros, which it cannot guess.
QUEUE_H := $(firstword $(wildcard /usr/include/sys/queue.h \
	/usr/include/*/sys/queue.h))

lint: lint-cycles lint-tidy lint-cppcheck

# Import cycles between the modules (.c files) of the backend framework and
# of the agent: tests/lint/cycles.py resolves each object's undefined
# symbols to the object that defines them and fails on a cycle (where
# modules must call each other back, the lower one takes a table of
# callbacks). tests/lint/test_cycles.py checks the checker first.
CYCLE_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard common/backend/*.c)) \
	$(patsubst %.c,$(BUILD)/agentlib/%.o,$(wildcard agent/*.c))

lint-cycles: $(CYCLE_OBJS)
	python3 tests/lint/test_cycles.py
	python3 tests/lint/cycles.py \
	    backend=common/backend:$(BUILD)/common/backend \
	    agent=agent:$(BUILD)/agentlib/agent

lint-tidy:
	set -o pipefail; git ls-files '*.c' | \
	    xargs -P$(LINT_JOBS) -n4 sh -c \
	    '$(TIDY) --quiet "$$@" -- $(LINT_FLAGS)' tidy 2>&1 | \
	    { grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated' || true; }

# cJSON.h is read first so that cppcheck knows cJSON_ArrayForEach (a loop
# macro) where its body has no braces.
lint-cppcheck:
	$(CPPCHECK) -q -j$(LINT_JOBS) --std=c11 -D_GNU_SOURCE -Icommon/include \
	    $(if $(QUEUE_H),--include=$(QUEUE_H)) \
	    --library=gnu,posix,libcurl,openssl,sqlite3 \
	    --include=/usr/include/cjson/cJSON.h \
	    --enable=warning,portability,performance \
	    --inline-suppr --suppressions-list=.cppcheck-suppressions \
	    --error-exitcode=1 \
	    --template='{file}:{line}: {severity} [{id}] {message}' \
	    $$(git ls-files '*.c')

clean:
	rm -rf build build-asan build-valgrind build-fuzz build-cov

-include $(shell find $(BUILD) $(if $(filter fuzz%,$(MAKECMDGOALS)),$(FUZZ_BUILD)) -name '*.d' 2>/dev/null)
