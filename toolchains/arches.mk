# Per-architecture make variables from toolchains/arches.txt (the one table of architectures):
# ALL_ARCHES, triple_<arch>, strip_<arch>, run_<arch> (how to run a binary of that arch here).
ARCH_TABLE := $(dir $(lastword $(MAKEFILE_LIST)))arches.txt
ALL_ARCHES := $(shell awk '!/^\#/ && NF {print $$1}' $(ARCH_TABLE))
$(foreach a,$(ALL_ARCHES),$(eval triple_$(a) := $(shell awk '$$1 == "$(a)" {print $$2}' $(ARCH_TABLE))))
$(foreach a,$(ALL_ARCHES),$(eval strip_$(a) := $(shell awk '$$1 == "$(a)" {print $$6}' $(ARCH_TABLE))))
$(foreach a,$(ALL_ARCHES),$(eval run_$(a) := $(shell awk '$$1 == "$(a)" && $$5 != "-" {print $$5}' $(ARCH_TABLE))))
