# parkwatch — GNU Makefile.
#
#   make              build build/parkwatch (runs scripts/deps.sh first)
#   make test         unit tests under ASan+UBSan, every fuzz target for FUZZ_SMOKE_SECONDS,
#                     then integration and browser tests
#   make unit         unit tests only (SANITIZE=address,undefined by default under `make test`)
#   make bench        benchmarks: `name value unit` lines
#   make fuzz         build and run the libFuzzer targets for FUZZ_SECONDS each
#   make run          the whole demo: Mosquitto, parkwatch serve, the simulator
#
# Knobs: SANITIZE=address,undefined   WERROR=   (empty to drop -Werror)   V=1   DEPS=0 (skip deps.sh)
#
# Layering (design.md) is enforced at link time: each module is its own archive and a unit test of
# module M links only M and the modules M may use (MOD_DEPS_M). A lower layer that calls a higher
# one does not link.

SHELL := /bin/bash
.DEFAULT_GOAL := all

CC       ?= cc
SANITIZE ?=
WERROR   ?= -Werror
DEPS     ?= 1
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5

ifeq ($(SANITIZE),)
B := build
SANFLAGS :=
else
B := build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

PKGS := libuv libmicrohttpd sqlite3 libsodium libmosquitto libzstd zlib libcjson \
        libcurl inih libpcre2-8 libnats
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# snappy (Prometheus remote write) ships no pkg-config file in Debian
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lsnappy
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

CFLAGS ?= -O2 -g
# -Wno-missing-field-initializers: tables of positional initializers (HTTP routes) grow fields at
# the end whose 0 is the default, so existing entries need not change.
WARN := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 \
        -Wno-unused-parameter -Wvla -Wimplicit-fallthrough -Wno-missing-field-initializers
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(WERROR) $(CFLAGS) $(SANFLAGS) \
              -Isrc $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := -pthread $(SANFLAGS) $(LDFLAGS)
LIBS := $(PKG_LIBS) -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

# ---- modules and what each may use (design.md, "Modules and the layering rule") ----
MODULES := base jsonv db proto tsdb geo dispersion model events alarm rules supervision workorder permit archive pipeline supervise incident uplink ingest http sim
MOD_DEPS_base     :=
MOD_DEPS_jsonv    := base
MOD_DEPS_db       := base
MOD_DEPS_proto    := base
MOD_DEPS_tsdb     := base
MOD_DEPS_geo      := base
MOD_DEPS_dispersion := base geo
MOD_DEPS_model    := base jsonv db
MOD_DEPS_events   := base db
MOD_DEPS_alarm    := base jsonv db model
MOD_DEPS_rules    := base jsonv db geo model alarm
MOD_DEPS_supervision := base jsonv db model
MOD_DEPS_workorder := base jsonv db model alarm supervision
MOD_DEPS_permit   := base jsonv db geo model alarm supervision workorder
MOD_DEPS_archive  := base
MOD_DEPS_pipeline := base jsonv db tsdb geo model events alarm rules archive
MOD_DEPS_supervise := base jsonv db tsdb geo model events alarm rules archive pipeline supervision workorder permit
MOD_DEPS_incident := base jsonv db tsdb geo dispersion model events alarm rules supervision workorder archive pipeline supervise
MOD_DEPS_uplink   := base jsonv db tsdb geo model events alarm rules archive pipeline
MOD_DEPS_ingest   := base jsonv db proto tsdb geo model events alarm rules archive pipeline supervise supervision workorder permit
MOD_DEPS_http     := base jsonv db proto tsdb geo dispersion model events alarm rules supervision workorder permit archive pipeline supervise incident uplink ingest
MOD_DEPS_sim      := base proto geo

mod_srcs = $(wildcard src/$(1)/*.c)
mod_objs = $(patsubst src/%.c,$(B)/obj/%.o,$(call mod_srcs,$(1)))
mod_lib  = $(B)/lib/libpw_$(1).a
# archives for a module and everything it may use, in link order (users before used)
mod_closure = $(call mod_lib,$(1)) $(foreach d,$(MOD_DEPS_$(1)),$(call mod_lib,$(d)))

ALL_LIBS := $(foreach m,$(MODULES),$(call mod_lib,$(m)))

# ---- the program ----
# deps.sh runs first and alone: it may install the headers and .pc files that the compile flags
# above come from, so the build is a second make that evaluates them again (`make -j2` on a fresh
# machine used to compile while deps.sh was still installing).
all: deps
	$(Q)$(MAKE) --no-print-directory build-all
build-all: $(B)/parkwatch $(B)/layering.ok

# The layering rule over every module's whole archive (includes and symbols), not only over what a
# unit test links: scripts/check-layering.sh.
$(B)/layering.ok: $(ALL_LIBS) scripts/check-layering.sh
	@echo "  CHECK   layering"
	$(Q)scripts/check-layering.sh $(B) "$(MODULES)" $(foreach m,$(MODULES),"$(m):$(MOD_DEPS_$(m))")
	$(Q)touch $@

# src/*.c: the command-line tool (main.c dispatches to cmd_*.c); it may use every module.
TOP_OBJS := $(patsubst src/%.c,$(B)/obj/%.o,$(wildcard src/*.c))

$(B)/parkwatch: $(TOP_OBJS) $(ALL_LIBS)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(TOP_OBJS) -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(LIBS)

$(B)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

define MODULE_RULES
$(call mod_lib,$(1)): $(call mod_objs,$(1))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$(Q)ar rcs $$@ $$^ $(if $(call mod_objs,$(1)),,$(B)/obj/empty.o)
endef
$(foreach m,$(MODULES),$(eval $(call MODULE_RULES,$(m))))

# an empty module still gets an archive
$(B)/obj/empty.o:
	@mkdir -p $(dir $@)
	$(Q)echo 'extern int pw_empty_module_; int pw_empty_module_;' | $(CC) -x c -c -o $@ -
$(foreach m,$(MODULES),$(if $(call mod_srcs,$(m)),,$(eval $(call mod_lib,$(m)): $(B)/obj/empty.o)))

# ---- unit tests: tests/unit/test_<module>_<what>.c, cmocka ----
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
test_module = $(word 2,$(subst _, ,$(notdir $(1))))

$(B)/obj/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

define UNIT_RULES
$(B)/tests/$(1): $(B)/obj/tests/unit/$(1).o $(call mod_closure,$(call test_module,$(1)))
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $$@ $$< -Wl,--start-group $(call mod_closure,$(call test_module,$(1))) -Wl,--end-group $(CMOCKA_LIBS) $(LIBS)
endef
$(foreach t,$(patsubst tests/unit/%.c,%,$(UNIT_SRCS)),$(eval $(call UNIT_RULES,$(t))))

unit-build: $(UNIT_BINS)
unit: deps
	$(Q)$(MAKE) --no-print-directory unit-build
	$(Q)scripts/run-tests unit $(UNIT_BINS)

# ---- integration-test peers: tests/integration/*.c built into $(B)/tests/ ----
# modbus_server: a libmodbus server the Modbus integration tests start (and silence). It is a
# separate process and the only user of libmodbus: the daemon speaks Modbus TCP with its own codec
# (src/proto/modbus.c), so nothing in build/parkwatch links libmodbus.
build-all: $(B)/tests/modbus_server
$(B)/tests/modbus_server: tests/integration/modbus_server.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags libmodbus) -o $@ $< $(ALL_LDFLAGS) \
	    $(shell pkg-config --libs libmodbus)

# archivecheck: the archive verified with the Go team's transparency-log code
# (golang.org/x/mod/sumdb, Debian golang-golang-x-mod-dev), built offline from GOPATH.
build-all: $(B)/tests/archivecheck
$(B)/tests/archivecheck: tests/verifiers/archivecheck/main.go
	@mkdir -p $(dir $@)
	@echo "  GO      $@"
	$(Q)GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE=$(abspath build/gocache) \
	  go build -o $@ ./tests/verifiers/archivecheck

# ---- benchmarks: bench/bench_<module>_<what>.c, print `name value unit` ----
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRCS))
$(B)/obj/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Ibench -c -o $@ $<
$(B)/bench/%: $(B)/obj/bench/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(LIBS)

bench: all
	$(Q)$(MAKE) --no-print-directory $(BENCH_BINS)
	$(Q)for b in $(BENCH_BINS); do $$b || exit 1; done
	$(Q)if [ -x bench/run-extra ]; then bench/run-extra $(B)/parkwatch; fi

# ---- fuzz targets: tests/fuzz/fuzz_<module>_<what>.c, libFuzzer (clang) ----
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc $(PKG_CFLAGS)
build/fuzz/%: tests/fuzz/%.c $(wildcard src/*/*.c src/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< $(foreach d,$(call test_module,$*) $(MOD_DEPS_$(call test_module,$*)),$(call mod_srcs,$(d))) $(PKG_LIBS) -lm
fuzz: $(FUZZ_BINS)
	$(Q)for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  seeds=; [ -d tests/fuzz/seeds/$$n ] && seeds=tests/fuzz/seeds/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus-$$n $$seeds 2>&1 | \
	    grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY' ; done

# ---- the whole suite ----
# the fuzz targets run briefly (FUZZ_SMOKE_SECONDS each, from their seeds): a crash fails the suite
test: deps
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined unit-build
	$(Q)$(MAKE) --no-print-directory all $(FUZZ_BINS)
	$(Q)FUZZ_BINS="$(FUZZ_BINS)" FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) \
	  scripts/run-tests all build/parkwatch $(patsubst tests/unit/%.c,build/san/tests/%,$(UNIT_SRCS))

integration: all
	$(Q)scripts/run-tests integration build/parkwatch

run: all
	$(Q)scripts/run-demo

deps:
ifeq ($(DEPS),1)
	$(Q)scripts/deps.sh
endif

clean:
	rm -rf build

.PHONY: all build-all test unit unit-build integration bench fuzz run deps clean

-include $(shell find $(B) -name '*.d' 2>/dev/null)
