# zechat_billing: built with PGXS.
#
#   make && make install            build and install into pg_config's server
#   make installcheck               pg_regress + isolation suites against a running server
#
# Everything else (throwaway clusters, unit tests, the demo) is driven by
# scripts/ ; see README.md.

EXTENSION   = zechat_billing
EXTVERSION  = 1.1
MODULE_big  = zechat_billing
OBJS        = $(patsubst %.cpp,%.o,$(sort $(wildcard src/core/*.cpp src/pg/*.cpp)))
DATA_built  = zechat_billing--$(EXTVERSION).sql
# One script per step from each earlier version (ALTER EXTENSION ... UPDATE);
# see "Making a new version" in README.md.
DATA        = $(sort $(wildcard src/sql/updates/zechat_billing--*--*.sql))
PGFILEDESC  = "zechat_billing - plans, quotas and atomic usage enforcement"

REGRESS      = $(basename $(notdir $(sort $(wildcard sql/*.sql))))
REGRESS_OPTS =
ISOLATION    = $(basename $(notdir $(sort $(wildcard tests/isolation/specs/*.spec))))
ISOLATION_OPTS = --outputdir=tests/isolation/output --dbname=zb_isolation \
                 --load-extension=zechat_billing

EXTRA_CLEAN = zechat_billing--$(EXTVERSION).sql tests/isolation/output build/regress-shared_memory \
              build/isolation-shared_memory

PG_CONFIG ?= pg_config

# C++17 for the whole library.  -Wno-register: PostgreSQL headers still use
# `register`, which C++17 removed.  Only the fmgr entry points are exported:
# PostgreSQL 15 leaves PGDLLEXPORT empty on Linux, so define it here and hide
# everything else.
PG_CXXFLAGS = -std=c++17 -fvisibility=hidden -fvisibility-inlines-hidden -Wextra -Wno-register \
              -Wno-unused-parameter -Wno-missing-field-initializers
PG_CPPFLAGS = '-DPGDLLEXPORT=__attribute__((visibility("default")))'
SHLIB_LINK  = -lstdc++

# Debian builds PostgreSQL --with-llvm, so PGXS would also compile every .cpp
# to LLVM bitcode with clang and without our -std=c++17.  JIT inlining of
# this library buys nothing (its hot work is in the executor it calls), so
# skip the bitcode.
override with_llvm := no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The install script of the current version is assembled from the SQL
# sources, in file name order (src/sql/updates/ holds the upgrade steps).
zechat_billing--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@

$(OBJS): $(wildcard src/core/*.hpp src/pg/*.hpp)

# The two halves of installcheck, so scripts/test.sh can count each.
#
# ZB_MODE=shared_memory is for a server with the library in
# shared_preload_libraries.  Where that mode rightly answers differently
# (a racing session is refused at once instead of waiting; PREPARE with a
# reservation is refused), its expected files are in expected_shared_memory/
# and tests/isolation/expected_shared_memory/; they overlay the lock-mode
# ones in a scratch input directory.  Every other file must match as is.
ZB_MODE ?= lock
ifeq ($(ZB_MODE),shared_memory)
REGRESS_INPUT   = build/regress-shared_memory
ISOLATION_INPUT = build/isolation-shared_memory
else
REGRESS_INPUT   = .
ISOLATION_INPUT = tests/isolation
endif

build/regress-shared_memory: FORCE
	rm -rf $@ && mkdir -p $@/expected
	ln -s $(CURDIR)/sql $@/sql
	cp expected/*.out $@/expected/ && cp expected_shared_memory/*.out $@/expected/

build/isolation-shared_memory: FORCE
	rm -rf $@ && mkdir -p $@/expected
	ln -s $(CURDIR)/tests/isolation/specs $@/specs
	cp tests/isolation/expected/*.out $@/expected/
	cp tests/isolation/expected_shared_memory/*.out $@/expected/

installcheck-regress: submake $(REGRESS_PREP) $(filter-out .,$(REGRESS_INPUT))
	$(pg_regress_installcheck) --inputdir=$(REGRESS_INPUT) --outputdir=$(REGRESS_INPUT) \
	    $(REGRESS_OPTS) $(REGRESS)

installcheck-isolation: submake $(REGRESS_PREP) $(filter-out tests/isolation,$(ISOLATION_INPUT))
	@mkdir -p tests/isolation/output
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) --inputdir=$(ISOLATION_INPUT) \
	    $(ISOLATION)

.PHONY: FORCE

.PHONY: installcheck-regress installcheck-isolation
