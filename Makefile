# twind — plain GNU make.  `make`, `make check`, `make install`, `make demo`,
# `make bench`, `make bench-peers`, `make bench-million`, `make fuzz`.  Overrides: CC, CFLAGS, PREFIX, DESTDIR,
# SANITIZE=address,undefined, V=1.
CC       ?= cc
CFLAGS   ?= -O2 -g
PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(PREFIX)/lib/systemd/system
B        ?= build

PKGS      := libuv libsodium msgpack lmdb libzstd libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN     := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter -Wformat=2 -Wvla
DEFS     := -D_GNU_SOURCE
ALL_CFLAGS := $(WARN) $(DEFS) -Iinclude -Iproto -Idaemon -Iclient $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -pthread
LDLIBS   := $(PKG_LIBS) -pthread -lm

ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

PROTO_SRC  := $(wildcard proto/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CLIENT_SRC := $(filter-out client/main.c,$(wildcard client/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
TOOL_SRC   := $(wildcard tests/tools/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

PROTO_OBJ  := $(PROTO_SRC:%.c=$(B)/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(B)/%.o)
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(B)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(B)/fuzz/replay_%)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(B)/fuzz/fuzz_%)

LIBPROTO  := $(B)/libtwinproto.a
LIBDAEMON := $(B)/libtwind.a
LIBCLIENT := $(B)/libtwin.a

.SECONDARY:
.PHONY: all check deps install uninstall demo bench bench-peers bench-million bench-swarm fuzz soak clean tests tools
all: $(B)/twind $(B)/twin tools

tools: $(TOOL_BIN)
tests: $(UNIT_BIN) $(REPLAY_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBPROTO): $(PROTO_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^
# The web interface's files, compiled in (daemon/www.h).
WWW_FILES := $(shell find daemon/www -type f 2>/dev/null | LC_ALL=C sort)
$(B)/gen/www.c: $(WWW_FILES) contrib/www2c.py
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  WWW     $@")
	$(Q)python3 contrib/www2c.py daemon/www $@
$(B)/gen/www.o: $(B)/gen/www.c
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBDAEMON): $(DAEMON_OBJ) $(B)/gen/www.o
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^
$(LIBCLIENT): $(CLIENT_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# twind takes twin's JSON reader and writer (client/json.c) for its web API.
$(B)/twind: $(B)/daemon/main.o $(LIBDAEMON) $(LIBCLIENT) $(LIBPROTO)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# twin takes the report page's files (report.js, report.css, translations)
# for twin report --html.
$(B)/twin: $(B)/client/main.o $(LIBCLIENT) $(LIBPROTO) $(B)/gen/www.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBDAEMON) $(LIBCLIENT) $(LIBPROTO)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LDLIBS)
$(B)/tools/%: $(B)/tests/tools/%.o $(LIBDAEMON) $(LIBCLIENT) $(LIBPROTO)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# Fuzz targets are replayed over their committed corpora by `make check`
# with a plain main(); `make fuzz` builds them with libFuzzer (clang).
$(B)/fuzz/replay_%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/replay.o $(LIBDAEMON) $(LIBCLIENT) $(LIBPROTO)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

FUZZ_CC     ?= clang
FUZZ_FLAGS  := -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -O1 -g
FUZZ_SECONDS ?= 60
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(PROTO_SRC) $(DAEMON_SRC) $(CLIENT_SRC) $(B)/gen/www.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(WARN) $(DEFS) -Iinclude -Iproto -Idaemon -Iclient $(PKG_CFLAGS) $(FUZZ_FLAGS) -o $@ $< $(PROTO_SRC) $(DAEMON_SRC) $(B)/gen/www.c $(CLIENT_SRC) $(LDLIBS)

deps:
	@sh contrib/install-deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)sh tests/run.sh $(B)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh contrib/demo.sh $(B)

bench: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)sh contrib/bench.sh $(B)

# twind's sync against Hypercore's replication of the same records, in one
# run (contrib/bench-peers.sh); Hypercore comes from npm, pinned by
# contrib/bench-peers/package-lock.json, into a temporary folder. Figures
# only; not part of check.
bench-peers: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)sh contrib/bench-peers.sh $(B)

# The million-record run (contrib/bench-million.sh; MILLION_DIR=DIR keeps
# and reuses its store).  Not part of bench: it takes about ten minutes.
bench-million: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)sh contrib/bench-million.sh $(B)

# NODES (200) twind processes under churn (contrib/bench-swarm.sh, which
# tests/tools/swarm.py runs); prints figures. Not part of check or bench.
bench-swarm: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh contrib/bench-swarm.sh $(B)

fuzz: deps $(FUZZ_BIN) $(B)/tests/test_prop
	$(Q)sh tests/fuzz/run-fuzz.sh $(B) $(FUZZ_SECONDS)

# Every hostile peer at once against a node two honest nodes sync with
# (contrib/soak.sh); prints figures. Not part of check.
SOAK_SECONDS ?= 600
soak: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)SOAK_SECONDS=$(SOAK_SECONDS) sh contrib/soak.sh $(B)

install: $(B)/twind $(B)/twin
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	install -m 0755 $(B)/twind $(B)/twin $(DESTDIR)$(BINDIR)/
	install -m 0644 contrib/man/twin.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 contrib/man/twind.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 contrib/man/twind.8 $(DESTDIR)$(MANDIR)/man8/
	sed 's|/usr/local/bin/twind|$(BINDIR)/twind|' contrib/twind.service > $(DESTDIR)$(UNITDIR)/twind.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/twind.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/twind $(DESTDIR)$(BINDIR)/twin \
	  $(DESTDIR)$(MANDIR)/man1/twin.1 $(DESTDIR)$(MANDIR)/man5/twind.conf.5 \
	  $(DESTDIR)$(MANDIR)/man8/twind.8 $(DESTDIR)$(UNITDIR)/twind.service

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
