# Ratchet build. `make` builds build/ratchet; see `make help` for the rest.
#
#   make                  build build/ratchet
#   make test             install deps, build, run every test; ends with "N passed, N failed"
#   make run              install deps, build, run the server with its embedded defaults
#   make bench            run the benchmarks in bench/
#   make format           clang-format every C file
#   make fuzz             build libFuzzer targets (clang) into build/fuzz/
#   make SANITIZE=address,undefined test   the same tests on an ASan/UBSan build
#
# Sources are discovered: every src/**/*.c except src/main.c goes into build/libratchet.a,
# every tests/unit/test_*.c becomes a test binary, every fuzz/fuzz_*.c a fuzz target.

CC       ?= gcc
SANITIZE ?=
PKGS     := javascriptcoregtk-4.1 libmicrohttpd libuv libcurl jansson sqlite3 libpq yaml-0.1 \
            libpcre2-8 libzip libcrypto

ifeq ($(SANITIZE),)
  BUILD  := build
  OPT    := -O2
else
  BUILD  := build/san
  OPT    := -O1 -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

BIN      := $(BUILD)/ratchet
LIB      := $(BUILD)/libratchet.a

# pkg-config include paths become -isystem so third-party headers do not trip our warnings.
PKG_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(PKGS) 2>/dev/null))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla \
            -Wimplicit-fallthrough -Wno-unused-parameter -Werror \
            $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null)),,-Wno-format-truncation)
CFLAGS   := -std=c17 -D_GNU_SOURCE -g $(OPT) $(WARN) -Isrc $(PKG_CFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS  := $(if $(SANITIZE),-fsanitize=$(SANITIZE)) -rdynamic
LDLIBS   := $(PKG_LIBS) -lm -lpthread

LIB_SRCS := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS:= $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS:= $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS:= $(sort $(wildcard fuzz/fuzz_*.c))
REPLAY_BINS := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz-replay/%)
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/helpers/%)

.PHONY: all deps test unit build-tests run bench format fuzz clean help check-format
.DEFAULT_GOAL := all

all: $(BIN)

help:
	@sed -n '1,14p' Makefile

deps:
	@scripts/install-deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@
	@ar rcs $@ $^

$(BIN): $(BUILD)/obj/src/main.o $(LIB)
	@echo "LD $@"
	@$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/tests/unit/harness.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/helpers/%: $(BUILD)/obj/tests/helpers/%.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Fuzz targets built with a replay driver: `make test` feeds them their corpus with gcc.
$(BUILD)/fuzz-replay/%: $(BUILD)/obj/fuzz/%.o $(BUILD)/obj/fuzz/replay.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/obj/fuzz/replay.o: fuzz/replay.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

# The engine embeds src/engine/js/*.js with .incbin: rebuild it when they change.
$(BUILD)/obj/src/engine/js.o: $(wildcard src/engine/js/*.js)

unit: $(TEST_BINS)

# Everything the test runner needs: the binary, unit tests, fuzz replayers, test helpers.
build-tests: $(BIN) $(TEST_BINS) $(REPLAY_BINS) $(HELPER_BINS)

test:
	@scripts/install-deps --test
	@$(MAKE) --no-print-directory build-tests
	@RATCHET_BIN=$(abspath $(BIN)) RATCHET_BUILD=$(abspath $(BUILD)) SANITIZE=$(SANITIZE) \
		tests/run

run: deps
	@$(MAKE) --no-print-directory $(BIN)
	@scripts/run-default $(BIN)

bench:
	@scripts/install-deps --test
	@$(MAKE) --no-print-directory $(BIN) $(HELPER_BINS)
	@RATCHET_BIN=$(abspath $(BIN)) RATCHET_BUILD=$(abspath $(BUILD)) bench/run

fuzz:
	@mkdir -p build/fuzz
	@for f in $(FUZZ_SRCS); do \
		n=$$(basename $$f .c); \
		echo "clang fuzz/$$n.c"; \
		clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
			$(PKG_CFLAGS) $$f $(LIB_SRCS) $(LDLIBS) -o build/fuzz/$$n || exit 1; \
	done

format:
	clang-format -i $$(find src tests fuzz bench -name '*.[ch]' 2>/dev/null)

check-format:
	@bad=$$(for f in $$(find src tests fuzz bench -name '*.[ch]' 2>/dev/null); do \
		clang-format --dry-run -Werror $$f >/dev/null 2>&1 || echo $$f; done); \
	if [ -n "$$bad" ]; then echo "clang-format would change:"; echo "$$bad"; exit 1; fi

clean:
	rm -rf build

# --- rest: the /docs page is embedded with .incbin (src/api/rest/docs.c).
$(BUILD)/obj/src/api/rest/docs.o: $(wildcard src/api/rest/docs/*)
# --- end rest

# --- store: SQL migrations are embedded with .incbin (src/store/migrations.c), so that object
# --- is rebuilt when one of them changes.
$(BUILD)/obj/src/store/migrations.o: $(wildcard src/store/migrations/*.sql)
# --- end store

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
