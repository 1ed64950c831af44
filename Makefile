# iam-assurance — build, test and demo targets.
#
#   make demo   start a local AWS emulator, seed a demo account, sweep it, replay events, show
#               what SNS delivered, stop the emulator
#   make test   every test: rules (no network), CLI, adapters, emulator end to end, templates
#   make fuzz   run every fuzz target (fuzz/) for FUZZ_SECONDS each, or FUZZ_RUNS inputs each
#   make bench  API calls, time and memory of sweeps and events on synthetic accounts, beside
#               Prowler; the rules core alone; the release binary's size (docs/benchmarks.md)
#
# Everything these targets need is installed by them: Python tools into .venv (moto server
# for the local AWS emulator, boto3, cfn-lint, pytest), Rust crates by cargo.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export MOTO_SERVER := $(CURDIR)/$(VENV)/bin/moto_server
export PYTHON := $(CURDIR)/$(PY)
CARGO_TEST_FLAGS ?=

PY_REQUIREMENTS := "moto[server]==5.2.1" "boto3>=1.34" "cfn-lint==1.51.0" "pytest>=7" "pyyaml>=6"
# The SAM CLI lives in its own venv: it bundles a newer cfn-lint that misses property errors
# inside AWS::Serverless::Function, so the pinned cfn-lint above stays first on PATH.
SAM_VENV ?= .venv-sam

.PHONY: help venv sam-cli build-debug test test-rust test-fuzz test-infra lint lint-rust lint-templates demo build deploy fuzz bench bench-peers clean

help:
	@sed -n '2,13p' Makefile

$(VENV)/.installed: Makefile
	python3 -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check $(PY_REQUIREMENTS)
	touch $@

venv: $(VENV)/.installed

# Best effort: where the SAM CLI cannot be installed, `sam validate --lint` is skipped with a note.
$(SAM_VENV)/.installed: Makefile
	@python3 -m venv $(SAM_VENV) && $(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check "aws-sam-cli>=1.100" \
	  && touch $@ || echo "note: the SAM CLI could not be installed; 'sam validate --lint' will be skipped"

sam-cli: $(SAM_VENV)/.installed

build-debug:
	cargo build --quiet

test: venv test-rust test-fuzz test-infra lint-templates lint-rust

test-rust: venv
	cargo test --workspace $(CARGO_TEST_FLAGS)

# A short coverage-guided run of every fuzz target but the router's (which needs the AWS SDK
# built again with the instrumentation; `make fuzz` runs it): FUZZ_TEST_SECONDS each.
FUZZ_TEST_SECONDS ?= 5
test-fuzz:
	FUZZ_RULES_ONLY=1 bash scripts/fuzz.sh time $(FUZZ_TEST_SECONDS)

# Every fuzz target, one at a time: FUZZ_SECONDS each (default 60), or FUZZ_RUNS inputs each;
# FUZZ_TARGETS to pick some. Stable toolchain; see docs/hardening.md.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
FUZZ_TARGETS ?=
fuzz:
	bash scripts/fuzz.sh $(if $(FUZZ_RUNS),runs $(FUZZ_RUNS),time $(FUZZ_SECONDS)) $(FUZZ_TARGETS)

test-infra: venv
	$(PY) -m pytest -q tests/infra

lint-templates: venv sam-cli
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 \
	  SAM="$$( [ -x $(SAM_VENV)/bin/sam ] && echo $(CURDIR)/$(SAM_VENV)/bin/sam || echo sam )" bash tests/lint_templates.sh

lint: lint-templates lint-rust

lint-rust:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

demo: venv build-debug
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

# Deploy (needs the SAM CLI and cargo-lambda with zig; see docs/deploy.md).
build:
	sam build

deploy: build
	sam deploy --guided

# ---------------------------------------------------------------- benchmarks (not part of test)
# The peer is installed into its own virtualenv under .peers/ (git-ignored), once: ~4 min and
# 2.3 GB the first time, skipped when present. Best effort: without it the bench runs alone.
PEERS ?= .peers
PROWLER_VERSION ?= 5.46.0
BENCH_SIZES ?= 100,1000,10000
BENCH_PEER_MAX_USERS ?= 1000
BENCH_ARGS ?=
BENCH_OUT ?= bench-results

$(PEERS)/prowler/.installed:
	@echo "installing prowler $(PROWLER_VERSION) into $(PEERS)/prowler (first time only, a few minutes)"
	@python3 -m venv $(PEERS)/prowler && $(PEERS)/prowler/bin/pip install --quiet --disable-pip-version-check "prowler==$(PROWLER_VERSION)" \
	  && touch $@ || echo "note: prowler could not be installed; the bench will run without the peer"

bench-peers: $(PEERS)/prowler/.installed

# Release build of the root package, the rules-core criterion benchmark (a crate outside the
# workspace, so `make test` never builds criterion), then scripts/bench.py: synthetic accounts
# in moto, sweeps, events and the peer. Prints the table; writes $(BENCH_OUT)/latest.json.
bench: venv bench-peers
	@set -e; started=$$(date +%s); mkdir -p $(BENCH_OUT); \
	echo "== release build"; cargo build --release --locked --bin iam-assurance; \
	echo "== rules core (criterion)"; \
	(cd benches/rules-core && cargo bench --locked --bench evaluate && \
	  cargo run --quiet --release --locked --bin rules-core-once -- 100000 > $(CURDIR)/$(BENCH_OUT)/rules-core-once.json); \
	echo "== sweeps, events and the peer"; \
	$(PY) scripts/bench.py --sizes $(BENCH_SIZES) --peer-max-users $(BENCH_PEER_MAX_USERS) \
	  --rules-core-once $(BENCH_OUT)/rules-core-once.json --out $(BENCH_OUT) $(BENCH_ARGS); \
	echo "make bench took $$(( $$(date +%s) - started )) s"

clean:
	rm -rf $(VENV) $(SAM_VENV) target .aws-sam
