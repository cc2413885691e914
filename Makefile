# Sockerless: one non-recursive GNU make for every binary and test.
#
#   make                 build everything into build/
#   make SANITIZE=1      ASan + UBSan build into build-asan/
#   make check           unit, simulator and end-to-end tests (README)
#   make up / make down  start / stop the local default (simulated cloud)
#   make deps            install the Debian packages needed

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
endif

WARN := -std=gnu11 -Wall -Wextra -Werror -Wformat=2 -Wmissing-prototypes \
	-Wstrict-prototypes -Wmissing-declarations -Wshadow -Wpointer-arith \
	-Wwrite-strings -Wundef -Wvla -Wimplicit-fallthrough -fno-common
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS := $(OPT) $(WARN) $(SANFLAGS) -D_GNU_SOURCE -Icommon/include \
	$(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)
LIBS := $(PKG_LIBS) -lpthread -lm

COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
LIBCOMMON := $(BUILD)/libcommon.a

FRONTEND_SRCS := $(wildcard frontend/*.c)
FRONTEND_OBJS := $(FRONTEND_SRCS:%.c=$(BUILD)/%.o)

BACKENDS := $(patsubst backend-%,%,$(wildcard backend-*))
BACKEND_BINS := $(BACKENDS:%=$(BUILD)/sockerless-backend-%)

UNIT_SRCS := $(wildcard tests/unit/t_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

# sockerless-agent runs inside any user image, so it is static (musl),
# libc only, and built from its sources in one step. SANITIZE=1 does not
# apply to it: ASan/UBSan need glibc's dynamic runtime.
MUSL_CC ?= musl-gcc
# common/aglink_wire.c (the link's framing) is compiled into both sides.
AGENT_SRCS := $(wildcard agent/*.c) common/aglink_wire.c
AGENT_CFLAGS := -static -Os -s -std=c11 -D_GNU_SOURCE -Icommon/include \
	$(filter-out -std=%,$(WARN))

PROGRAMS := $(BUILD)/sockerless-frontend $(BACKEND_BINS) \
	$(BUILD)/sockerless-agent

.PHONY: all check unit deps up down clean format format-check \
	bench valgrind deb
all: $(PROGRAMS) $(UNIT_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sockerless-frontend: $(FRONTEND_OBJS) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $(FRONTEND_OBJS) $(LIBCOMMON) $(LIBS)

$(BUILD)/sockerless-agent: $(AGENT_SRCS) $(wildcard agent/*.h) \
    common/include/sockerless/aglink_wire.h
	@mkdir -p $(@D)
	$(MUSL_CC) $(AGENT_CFLAGS) -o $@ $(AGENT_SRCS)

# Each backend-<name>/ directory becomes sockerless-backend-<name>.
define backend_rule
$(BUILD)/sockerless-backend-$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard backend-$(1)/*.c)) $(LIBCOMMON)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(LIBCOMMON) $$(LIBS)
endef
$(foreach b,$(BACKENDS),$(eval $(call backend_rule,$(b))))

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCOMMON) $(LIBS) -lcmocka

unit: $(UNIT_BINS)

# check builds twice: unit tests run on both builds, and the end-to-end
# suite drives the ASan + UBSan daemons.
check: deps
	$(MAKE) all
	$(MAKE) SANITIZE=1 all
	BUILD=$(BUILD) ASAN_BUILD=build-asan tests/run.sh

deps:
	deploy/deps.sh

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

deb: all
	BUILD=$(BUILD) deploy/deb.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-valgrind

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
