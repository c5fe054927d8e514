# Hearth — the commands. `make run` sets everything up and starts Hearth;
# `make test` sets everything up and runs every test.
.PHONY: all bootstrap definitions configure build run test bench bench-store bench-rest check-sanitize fuzz clean

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
MAKEFLAGS  += --no-print-directory
# Patients in `make bench-store`'s corpus: 10 resources each (the issue's 1M).
PATIENTS ?= 100000
# Seconds each fuzzer runs in `make fuzz` (the issue asks for 10 minutes each).
FUZZ_SECONDS ?= 600
# Where the pinned FHIR definitions are unpacked (shared by every checkout).
DEFINITIONS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hearth


all: build

bootstrap:
	@scripts/bootstrap

definitions: bootstrap
	@scripts/fetch-definitions "$(DEFINITIONS)" > $(BUILD).definitions
	@scripts/fetch-definitions "$(DEFINITIONS)" --examples > $(BUILD).examples

configure: definitions
	@cmake -S . -B $(BUILD) -DHEARTH_DEFINITIONS_DIR="$$(cat $(BUILD).definitions)" \
	  -DHEARTH_R4_EXAMPLES_DIR="$$(cat $(BUILD).examples)" > $(BUILD).configure.log || (cat $(BUILD).configure.log; exit 1)

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# The FHIR server on SQLite in ./data, with the example resources of
# examples/fhir loaded (at their fixed ids: restarting adds no versions).
run: build
	@$(BUILD)/bin/hearth serve --data ./data --examples examples/fhir --mllp-port 2575

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

bench: build
	@bench/run_hl7v2_parse $(BUILD)
	@echo "== FHIR core: JSON vs RapidJSON DOM, XML vs pugixml DOM, FHIRPath (same run, core 0)"
	@taskset -c 0 $(BUILD)/bin/fhir_core --benchmark_min_time=0.5 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
	@echo "== Process start with the R4 definitions registry"
	@/usr/bin/time -f "wall %e s, peak RSS %M KB" $(BUILD)/bin/definitions_load
	@echo "== Validation and terminology: resources/s against the base and US Core, expansions/s (core 0)"
	@taskset -c 0 $(BUILD)/bin/validate_bench --benchmark_min_time=0.5 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true

# The store under load: fsync rate (fio), creates/s with 16 writers, reads/s.
# Apart from `bench`: at the default size it takes many minutes.
bench-store: build
	@bench/run_store $(BUILD) $(PATIENTS)

# The REST API under wrk (read-by-id, create, token search) beside a do-nothing
# Beast server, with the fsync rate (fio), in one run: about a minute.
bench-rest: build
	@bench/run_rest $(BUILD)

check-sanitize: definitions
	@cmake -S . -B $(ASAN_BUILD) -DHEARTH_SANITIZE=ON -DHEARTH_BENCH=OFF -DHEARTH_ASIO_BEAST=OFF \
	  -DHEARTH_DEFINITIONS_DIR="$$(cat $(BUILD).definitions)" \
	  -DHEARTH_R4_EXAMPLES_DIR="$$(cat $(BUILD).examples)" > $(ASAN_BUILD).configure.log || (cat $(ASAN_BUILD).configure.log; exit 1)
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

fuzz: definitions
	@CXX=clang++ CC=clang cmake -S . -B $(FUZZ_BUILD) -DHEARTH_FUZZ=ON -DHEARTH_TESTS=OFF -DHEARTH_BENCH=OFF \
	  -DHEARTH_ASIO_BEAST=OFF -DHEARTH_DEFINITIONS_DIR="$$(cat $(BUILD).definitions)" > $(FUZZ_BUILD).configure.log || (cat $(FUZZ_BUILD).configure.log; exit 1)
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) *.definitions *.examples *.configure.log
