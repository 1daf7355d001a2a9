# PGUI — the one front door. `make help` lists the targets.
#   make                      x86_64 firmware (out/x86_64/pgui)
#   make firmware ARCH=aarch64|armv7|x86_64
#   make test                 set-up if needed, swift test, firmware for all arches, integration tests
#   make demo                 PGUI with the simulated meter (METER=dlms-tcp: a DLMS/COSEM peer)
#   make bench                benchmarks (ratios against baselines measured in the same run)
#   make fleet N=100 SIM=1000 K=2   fleet harness: gateways + simulated devices, broker outage, herd drain
#   make image BOARD=qemu-virt-aarch64       appliance disk image + update bundle (out/image/BOARD/)
#   make image-test BOARD=qemu-virt-aarch64  boots the image under qemu-system: A/B, rollback, watchdog
#                             (also BOARD=qemu-virt-armv7)

ARCH ?= x86_64
ARCHES ?= x86_64 aarch64 armv7
TC := .build-toolchains
OUT := out
SWIFT ?= swift
PYTEST := $(TC)/venv/bin/python -m pytest

triple_x86_64 := x86_64-unknown-linux-gnu
triple_aarch64 := aarch64-none-none-elf
triple_armv7 := armv7-none-none-eabi
strip_x86_64 := strip
strip_aarch64 := aarch64-linux-gnu-strip
strip_armv7 := arm-linux-gnueabihf-strip

SOURCES := Package.swift $(shell find Sources -type f 2>/dev/null)

.PHONY: all firmware firmware-all bench-bin-all setup test unit integration demo bench clean help image image-test fleet
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
	$(SWIFT) build -c release --product pgui --scratch-path .build-fw-$* --triple $(triple_$*) \
	  --toolset $(TC)/toolset-$*.json 2>&1 | grep -v -e "argument unused during compilation: '-pie'" ; test $${PIPESTATUS[0]} -eq 0
	@mkdir -p $(@D)
	$(strip_$*) -o $@ .build-fw-$*/$(triple_$*)/release/pgui
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

demo: $(OUT)/x86_64/pgui
	DEMO_METER=$(or $(METER),simulated) Tests/demo/run.sh $(OUT)/x86_64/pgui

# `pgui-bench` on every architecture, then the benchmarks that need external peers.
bench: firmware-all bench-bin-all
	@for a in $(ARCHES); do echo "== bench $$a"; \
	  case $$a in x86_64) ./$(OUT)/$$a/pgui-bench ;; aarch64) qemu-aarch64 $(OUT)/$$a/pgui-bench ;; armv7) qemu-arm $(OUT)/$$a/pgui-bench ;; esac || exit 1; done
	@for b in Tests/bench/bench_*; do [ -x "$$b" ] || continue; echo "== $$b"; PGUI_OUT=$(OUT) PY=$(TC)/venv/bin/python $(TC)/venv/bin/python "$$b" || exit 1; done

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
