# PGUI — the one front door. `make help` lists the targets.
#   make                      x86_64 firmware (out/x86_64/pgui)
#   make firmware ARCH=aarch64|armv7|x86_64
#   make test                 set-up if needed, swift test, firmware for all arches, integration tests
#   make demo                 PGUI with the simulated meter (METER=dsmr-p1|sml|iec62056-21: on a pty;
#                             METER=dlms-tcp: a DLMS/COSEM peer)
#   make bench                benchmarks (ratios against baselines measured in the same run)
#   make fuzz                 every Tests/fuzz/*.swift libFuzzer target for FUZZ_SECONDS (default 60) each
#   make size                 stripped size per arch and each component's share; fails if OpenSSL is linked
#   make fleet N=100 SIM=1000 K=2   fleet harness: gateways + simulated devices, broker outage, herd drain
#   make image BOARD=qemu-virt-aarch64       appliance disk image + update bundle (out/image/BOARD/)
#   make image-test BOARD=qemu-virt-aarch64  boots the image under qemu-system: A/B, rollback, watchdog
#                             (also BOARD=qemu-virt-armv7)

include toolchains/arches.mk
ARCH ?= x86_64
ARCHES ?= $(ALL_ARCHES)
TC := .build-toolchains
OUT := out
SWIFT ?= swift
PYTEST := $(TC)/venv/bin/python -m pytest


SOURCES := Package.swift $(shell find Sources -type f 2>/dev/null)

.PHONY: all firmware firmware-all bench-bin-all setup test unit integration demo bench clean help image image-test size fleet fuzz fuzz-build
all: firmware

help:
	@sed -n 's/^#   //p' Makefile

$(TC)/.ready: toolchains/setup.sh
	toolchains/setup.sh
	@touch $@
setup: $(TC)/.ready

# The firmware: Embedded Swift, fully static, per target, through the generated SwiftPM toolset.
# `pgui` is the field binary; `pgui-bench` (benchmarks, never shipped) is built the same way.
$(OUT)/%/pgui: $(TC)/.ready $(SOURCES)
	@echo "[firmware] $* ($(triple_$*))"
	@# pgui-bench links in the same scratch path and overwrites the linker map: relink pgui (seconds)
	@# and keep its map as pgui-field.map for `make size`.
	@rm -f .build-fw-$*/$(triple_$*)/release/pgui
	$(SWIFT) build -c release --product pgui --scratch-path .build-fw-$* --triple $(triple_$*) \
	  --toolset $(TC)/toolset-$*.json 2>&1 | grep -v -e "argument unused during compilation: '-pie'" ; test $${PIPESTATUS[0]} -eq 0
	@mkdir -p $(@D)
	$(strip_$*) -o $@ .build-fw-$*/$(triple_$*)/release/pgui
	@cp .build-fw-$*/pgui.map .build-fw-$*/pgui-field.map
	@ls -l $@ | awk '{print "[firmware] " $$NF ": " $$5 " bytes stripped"}'
$(OUT)/%/pgui-bench: $(TC)/.ready $(SOURCES)
	@echo "[bench] $* ($(triple_$*))"
	$(SWIFT) build -c release --product pgui-bench --scratch-path .build-fw-$* --triple $(triple_$*) \
	  --toolset $(TC)/toolset-$*.json 2>&1 | grep -v -e "argument unused during compilation: '-pie'" ; test $${PIPESTATUS[0]} -eq 0
	@mkdir -p $(@D)
	$(strip_$*) -o $@ .build-fw-$*/$(triple_$*)/release/pgui-bench
firmware: $(OUT)/$(ARCH)/pgui
firmware-all: $(foreach a,$(ARCHES),$(OUT)/$(a)/pgui)
bench-bin-all: $(foreach a,$(ARCHES),$(OUT)/$(a)/pgui-bench)

unit: $(TC)/.ready
	$(SWIFT) test 2>&1 | tail -n 40 ; test $${PIPESTATUS[0]} -eq 0

integration: firmware-all
	PGUI_ARCHES="$(ARCHES)" PGUI_OUT=$(OUT) $(PYTEST) -q Tests/integration

test: unit bench-bin-all integration

METER ?= simulated
demo: $(OUT)/x86_64/pgui
	DEMO_METER=$(or $(METER),simulated) Tests/demo/run.sh $(OUT)/x86_64/pgui

# `pgui-bench` on every architecture, then the benchmarks that need external peers.
bench: firmware-all bench-bin-all
	@set -e; $(foreach a,$(ARCHES),echo "== bench $(a)"; $(run_$(a)) ./$(OUT)/$(a)/pgui-bench;)
	@for b in Tests/bench/bench_*; do [ -x "$$b" ] || continue; echo "== $$b"; PGUI_OUT=$(OUT) PY=$(TC)/venv/bin/python $(TC)/venv/bin/python "$$b" || exit 1; done

# Fuzzing (docs/building.md): each Tests/fuzz/<target>.swift is compiled with the core's sources into
# one module named PGUICore (the core qualifies some names with its module) with libFuzzer and ASan
# (host swiftc), then run from its seed corpus for FUZZ_SECONDS.
# New inputs go to out/fuzz/<target>.corpus (the seeds in git stay as they are); a crash leaves its
# input in out/fuzz/ and fails the target. FUZZ_TARGETS picks some, FUZZ_OPT=-Onone builds faster.
FUZZ_SECONDS ?= 60
FUZZ_OPT ?= -O
FUZZ_TARGETS ?= $(basename $(notdir $(wildcard Tests/fuzz/*.swift)))
CORE_SOURCES := $(shell find Sources/PGUICore -name '*.swift' 2>/dev/null)
$(OUT)/fuzz/%: Tests/fuzz/%.swift $(CORE_SOURCES)
	@mkdir -p $(@D)
	@echo "[fuzz] build $*"
	@swiftc -sanitize=fuzzer,address -parse-as-library $(FUZZ_OPT) -module-name PGUICore $(CORE_SOURCES) $< -o $@ 2>&1 \
	  | grep -v -e "Cannot export local symbol" ; test $${PIPESTATUS[0]} -eq 0
fuzz-build: $(foreach t,$(FUZZ_TARGETS),$(OUT)/fuzz/$(t))
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(OUT)/fuzz/$$t.corpus; \
	  echo "[fuzz] $$t for $(FUZZ_SECONDS) s"; \
	  $(OUT)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
	    -artifact_prefix=$(OUT)/fuzz/$$t- $(OUT)/fuzz/$$t.corpus Tests/fuzz/corpus/$$t 2>$(OUT)/fuzz/$$t.log \
	    || { tail -n 40 $(OUT)/fuzz/$$t.log; echo "[fuzz] $$t FAILED: input in $(OUT)/fuzz/$$t-*"; exit 1; }; \
	  grep -h -e "stat::number_of_executed_units" $(OUT)/fuzz/$$t.log | sed "s/^/[fuzz] $$t /"; \
	done
# Size per arch from the linker map (toolchains/size.py): shares of Swift code, mbedTLS, Paho, the
# TLS layer, libmodbus, libc; OpenSSL must be 0. Budgets of issue 16 (decimal MB): aarch64 4.5, armv7 3.2.
size_budget_aarch64 := 4500000
size_budget_armv7 := 3200000
size: firmware-all
	@rc=0; for a in $(ARCHES); do \
	  case $$a in aarch64) b=$(size_budget_aarch64) ;; armv7) b=$(size_budget_armv7) ;; *) b= ;; esac; \
	  python3 toolchains/size.py $$a $(OUT)/$$a/pgui .build-fw-$$a/pgui-field.map $$b || rc=1; done; exit $$rc

# Fleet scale (docs/fleet.md): N real gateways + SIM simulated devices, K BAL consumers on a shared
# subscription, a broker outage and the herd's drain; FLEET_ARGS passes more (see Tests/fleet/fleet.py).
N ?= 20
SIM ?= 0
K ?= 2
fleet: $(TC)/.ready $(OUT)/x86_64/pgui
	PGUI_OUT=$(OUT) $(TC)/venv/bin/python Tests/fleet/fleet.py --gateways $(N) --sim $(SIM) --consumers $(K) $(FLEET_ARGS)

# Appliance image (docs/image.md): everything a board needs is in board/$(BOARD)/, shared parts in image/.
BOARD ?= qemu-virt-aarch64
BOARD_ARCH = $(shell sed -n 's/^BOARD_PGUI_ARCH=//p' board/$(BOARD)/board.conf)
image: $(TC)/.ready
	$(MAKE) firmware ARCH=$(BOARD_ARCH)
	image/build-image.sh $(BOARD)
image-test: image
	PGUI_BOARD=$(BOARD) $(PYTEST) -q -p no:cacheprovider Tests/image

clean:
	rm -rf .build .build-fw-* $(OUT)

SHELL := /bin/bash
