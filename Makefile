# gleaner: one Makefile. `make` builds build/gleaner, `make test` runs every
# suite, `make run` runs the agent on its embedded default config.
# Every target installs missing Debian packages first (make deps).

PKGS      := libuv msgpack yaml-0.1 libpcre2-8 zlib
# Loaded on first use (agent/net/dl.c): their headers are used, the libraries never linked.
DL_PKGS   := libcurl libmicrohttpd openssl libsystemd libzstd libisal
BUILD     ?= build
CC        ?= cc
OPT       ?= -O2
SAN       ?=
CFLAGS    := -std=c11 $(OPT) -g -Wall -Wextra -Werror -Wno-missing-field-initializers \
             -D_GNU_SOURCE -Iagent -I. $(SAN)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(DL_PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS     = $(PKG_LIBS) -lm
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
# The shared tools that build the image and render the chart (see their READMEs).
SHARED_TOOLS ?= ../shared/tools
IMAGE     ?= gleaner:$(VERSION)

SRC       := $(filter-out agent/main.c,$(wildcard agent/*/*.c plugins/*.c plugins/*/*.c))
ASM       := agent/default_config.S
OBJ       := $(SRC:%.c=$(BUILD)/obj/%.o) $(ASM:%.S=$(BUILD)/obj/%.o)
UNIT_SRC  := $(wildcard tests/unit/*/test_*.c tests/unit/*/*/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all deps run test unit test-asan fuzz integration faults-short faults soak bench clean \
        docs check-docs \
        image chart chart-test image-test dashboards dashboards-pictures

# deps first, then the build: with -j, nothing compiles before the headers are installed.
all: deps
	@$(MAKE) -s --no-print-directory $(BUILD)/gleaner

# ---- dependencies ----------------------------------------------------------

deps:
	@sh tools/deps.sh

# ---- build -----------------------------------------------------------------

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -DGL_VERSION='"$(VERSION)"' -MMD -MP -c $< -o $@

$(BUILD)/obj/agent/default_config.o: agent/default_config.S config/gleaner.yaml
	@mkdir -p $(dir $@)
	@$(CC) $(SAN) -c $< -o $@

$(BUILD)/libgleaner.a: $(OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/gleaner: $(BUILD)/obj/agent/main.o $(BUILD)/libgleaner.a
	@echo "LD $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

-include $(OBJ:.o=.d) $(BUILD)/obj/agent/main.d

# ---- tests -----------------------------------------------------------------

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libgleaner.a $(wildcard tests/unit/*.h agent/*/*.h plugins/*/*.h)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libgleaner.a $(LDLIBS) \
	    $(TEST_LIBS) -lcmocka

# The pod cache's test drives its fake API server with libcurl directly.
$(BUILD)/tests/agent/k8s/test_pods: TEST_LIBS = $(shell pkg-config --libs libcurl 2>/dev/null)

unit: deps
	@$(MAKE) -s --no-print-directory $(UNIT_BIN)
	@sh tests/run_unit.sh $(UNIT_BIN)

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" unit

fuzz: deps
	@sh tests/fuzz/run.sh $(FUZZ_SRC)

integration: all
	@sh tests/integration/run.sh

# The fault suite (tests/faults/faults.py): its short form runs in make test; the long one
# writes bench/results/faults.md. Both need root (a tmpfs for storage.path, a mount
# namespace for the DNS fault). The short form takes about 5 minutes; 20 stop it whatever
# happens.
faults-short: all
	@timeout -k 10 1200 nice /usr/bin/python3 tests/faults/faults.py --short

faults: all
	@nice /usr/bin/python3 tests/faults/faults.py --long --table bench/results/faults.md

# One hour (SOAK_MINUTES) at 5 MB/s with an output outage every 10 minutes; plots RSS into
# bench/results/.
SOAK_MINUTES ?= 60
soak: all
	@nice /usr/bin/python3 tests/faults/soak.py --minutes $(SOAK_MINUTES) --out bench/results

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory faults-short
	@$(MAKE) --no-print-directory check-docs
	@$(MAKE) --no-print-directory chart-test
	@$(MAKE) --no-print-directory image-test
	@echo "make test: all suites passed"

run: all
	@sh tools/run.sh $(BUILD)/gleaner

# In-process benchmarks (bench/*.c) link the agent's library, as the unit tests do.
$(BUILD)/bench/%: bench/%.c $(BUILD)/libgleaner.a
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/libgleaner.a $(LDLIBS) $(BENCH_LIBS)

# The benchmarks' CloudWatch Logs sink is a libmicrohttpd server of its own.
$(BUILD)/bench/cwl_sink: BENCH_LIBS = $(shell pkg-config --libs libmicrohttpd 2>/dev/null) -lpthread

bench: all $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
	@sh bench/run.sh

docs: all
	@sh tools/docs.sh $(BUILD)/gleaner README.md
	@/usr/bin/python3 tools/chart-readme.py helm-chart/gleaner

check-docs: all
	@sh tools/docs.sh --check $(BUILD)/gleaner README.md

# ---- dashboards ------------------------------------------------------------

# dashboards/*.json from their description in tools/dashboards.py (the dashboard test
# fails when they differ).
dashboards:
	@/usr/bin/python3 tools/dashboards.py

# docs/dashboard-*.png: each dashboard drawn from four minutes of test data, by the test
# that checks every panel returns data (it draws into a temp dir in make test).
dashboards-pictures: all
	@GLEANER_PICTURES=docs GLEANER_DATA_SECONDS=240 \
	    nice /usr/bin/python3 tests/integration/dashboards_data.py

# ---- container image and Helm chart ----------------------------------------

# oci-image builds with buildah and needs root: it makes the Debian 12 base image the
# Dockerfile starts from once; --layers keeps the build stage's packages between builds,
# --force-rm leaves no build container behind when a step fails.
image:
	@[ "$$(id -u)" = 0 ] || { echo "make image: oci-image builds as root"; exit 1; }
	@nice bash $(SHARED_TOOLS)/oci-image/oci-image base >/dev/null
	@nice bash $(SHARED_TOOLS)/oci-image/oci-image build . $(IMAGE) --layers --force-rm

# The chart packaged with the repository's alerts/ and dashboards/ inside it.
chart:
	@sh tools/chart-package.sh $(BUILD)

chart-test: all
	@GLEANER_SHARED_TOOLS=$(SHARED_TOOLS) /usr/bin/python3 tests/chart/chart_test.py

image-test: all image
	@GLEANER_SHARED_TOOLS=$(SHARED_TOOLS) GLEANER_IMAGE=$(IMAGE) \
	    /usr/bin/python3 tests/chart/image_test.py

clean:
	rm -rf build build-asan build-fuzz
