# iam-assurance — build, test and demo targets.
#
#   make demo   start a local AWS emulator, seed a demo account, sweep it, replay events, show
#               what SNS delivered, stop the emulator
#   make test   every test: rules (no network), CLI, adapters, emulator end to end, templates
#   make package ARCH=x86_64|arm64   the Lambda package (release bootstrap, cargo-lambda)
#   make test-package ARCH=x86_64    run the package under the Lambda runtime emulator
#   make deploy  non-interactive deploy (DEPLOY_PARAMETERS, STACK_TAGS; docs/deploy.md)
#   make fuzz   run every fuzz target (fuzz/) for FUZZ_SECONDS each, or FUZZ_RUNS inputs each
#   make bench  API calls, time and memory of sweeps and events on synthetic accounts, beside
#               Prowler; the rules core alone; the release binary's size (docs/benchmarks.md)
#   make bench-org  a round over an organization of BENCH_ORG_ACCOUNTS member accounts (100) at
#               concurrency 10 and 50: calls, time, memory, state, messages (docs/benchmarks.md)
#
# Everything these targets need is installed by them: Python tools into .venv (moto server
# for the local AWS emulator, boto3, cfn-lint, pytest, and the validators of the export files:
# jsonschema with the OCSF schema of ocsf-json-schema, botocore's Security Hub model), Rust
# crates by cargo.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export MOTO_SERVER := $(CURDIR)/$(VENV)/bin/moto_server
export PYTHON := $(CURDIR)/$(PY)
CARGO_TEST_FLAGS ?=

PY_REQUIREMENTS := "moto[server]==5.2.1" "boto3>=1.34" "cfn-lint==1.51.0" "pytest>=7" "pyyaml>=6" \
  "jsonschema>=4.18" "ocsf-json-schema==1.2.0"
# The SAM CLI lives in its own venv: it bundles a newer cfn-lint that misses property errors
# inside AWS::Serverless::Function, so the pinned cfn-lint above stays first on PATH.
SAM_VENV ?= .venv-sam

.PHONY: help venv sam-cli checkov build-debug generated test test-rust test-fuzz test-infra lint lint-rust lint-templates demo cargo-lambda package test-package stage-source build deploy deploy-guided fuzz bench bench-org bench-peers clean

help:
	@sed -n '2,16p' Makefile

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

# checkov (IaC policy checks on the templates) in its own venv: its dependencies are many.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION ?= 3.3.30
$(CHECKOV_VENV)/.installed: Makefile
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check "checkov==$(CHECKOV_VERSION)"
	touch $@

checkov: $(CHECKOV_VENV)/.installed

build-debug:
	cargo build --quiet

# The files derived from the rule definitions and the event table (a test fails when a
# committed copy is stale).
GENERATED := docs/rules.md docs/events.md infra/settings.yaml docs/compliance.md
generated: build-debug
	@for f in $(GENERATED); do $(CARGO_TARGET_DIR)/debug/iam-assurance generate $$f > $$f.tmp && mv $$f.tmp $$f && echo "wrote $$f"; done

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

lint-templates: venv sam-cli checkov
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 CHECKOV="$(CURDIR)/$(CHECKOV_VENV)/bin/checkov" \
	  SAM="$$( [ -x $(SAM_VENV)/bin/sam ] && echo $(CURDIR)/$(SAM_VENV)/bin/sam || echo sam )" bash tests/lint_templates.sh

lint: lint-templates lint-rust

lint-rust:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

demo: venv build-debug
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

# ---------------------------------------------------------------- package and deploy
# The Lambda package: the release `bootstrap` built by cargo-lambda (with zig as the linker),
# installed from PyPI into its own virtualenv under .tools/ (git-ignored), in seconds.
# ARCH=arm64 (the template's default) needs the aarch64-unknown-linux-gnu standard library
# (`rustup target add aarch64-unknown-linux-gnu`); ARCH=x86_64 builds for x86_64 Lambda.
# Output: $(LAMBDA_DIR)/iam-assurance/bootstrap. A first release build takes ~11 min on 2 idle cores.
TOOLS ?= .tools
CARGO_LAMBDA_VERSION ?= 1.9.2
ZIGLANG_VERSION ?= 0.14.1
ARCH ?= arm64
LAMBDA_DIR ?= $(CARGO_TARGET_DIR)/lambda
CARGO_LAMBDA_BIN := $(CURDIR)/$(TOOLS)/cargo-lambda/bin
RUST_TARGET_arm64 := aarch64-unknown-linux-gnu
RUST_TARGET_x86_64 := x86_64-unknown-linux-gnu

$(TOOLS)/cargo-lambda/.installed: Makefile
	python3 -m venv $(TOOLS)/cargo-lambda
	$(TOOLS)/cargo-lambda/bin/pip install --quiet --disable-pip-version-check "cargo-lambda==$(CARGO_LAMBDA_VERSION)" "ziglang==$(ZIGLANG_VERSION)"
	touch $@

cargo-lambda: $(TOOLS)/cargo-lambda/.installed

package: cargo-lambda
	@target="$(RUST_TARGET_$(ARCH))"; \
	if [ -z "$$target" ]; then echo "ARCH must be arm64 or x86_64, not '$(ARCH)'" >&2; exit 2; fi; \
	if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$$target"; then \
	  echo "the Rust standard library for $$target is not installed: run 'rustup target add $$target', or build ARCH=x86_64 (and deploy with Architecture=x86_64)" >&2; exit 2; fi
	PATH="$(CARGO_LAMBDA_BIN):$$PATH" cargo lambda build --release --locked --bin iam-assurance \
	  $(if $(filter arm64,$(ARCH)),--arm64,--x86-64) --lambda-dir $(LAMBDA_DIR)
	@ls -l $(LAMBDA_DIR)/iam-assurance/bootstrap

# The built package under cargo-lambda's Runtime API emulator (`cargo lambda watch
# --only-lambda-apis`), invoked with `cargo lambda invoke` (events/schedule.json, a CloudTrail
# IAM event) against moto on 127.0.0.1: scripts/test_package.py. Not part of `make test` (it
# needs the release build); runs the package of this machine's architecture only.
test-package: venv package
	$(PY) scripts/test_package.py --bootstrap $(LAMBDA_DIR)/iam-assurance/bootstrap --cargo-lambda $(CARGO_LAMBDA_BIN)/cargo-lambda

# `sam build` from a staged copy of the Rust sources only (the template's CodeUri): SAM hashes
# and copies CodeUri, and the repository holds target/ and virtualenvs (gigabytes). SAM builds
# with cargo-lambda (its rust-cargolambda build method is a SAM beta feature: opted in here).
SAM_SOURCE := .build/lambda-source
SAM := $(shell [ -x $(SAM_VENV)/bin/sam ] && echo $(CURDIR)/$(SAM_VENV)/bin/sam || echo sam)
# Deploy settings, never written to samconfig.toml: template parameters ("Key=Value ...") and
# stack tags ("key=value ...", applied by CloudFormation to every resource), from the
# environment or from the git-ignored deploy.local.mk (`DEPLOY_PARAMETERS ?= ...`).
-include deploy.local.mk
DEPLOY_PARAMETERS ?=
STACK_TAGS ?=

stage-source:
	rm -rf $(SAM_SOURCE) && mkdir -p $(SAM_SOURCE)
	cp -R Cargo.toml Cargo.lock rustfmt.toml src crates $(SAM_SOURCE)/

build: stage-source cargo-lambda sam-cli
	PATH="$(CARGO_LAMBDA_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM) build --beta-features \
	  --parameter-overrides Architecture=$(ARCH)

# Non-interactive: builds, then creates or updates the stack with no prompt (the change set is
# applied without confirmation).
deploy: build
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --no-confirm-changeset --no-fail-on-empty-changeset \
	  --parameter-overrides Architecture=$(ARCH) $(DEPLOY_PARAMETERS) \
	  $(if $(strip $(STACK_TAGS)),--tags $(STACK_TAGS))

# Interactive, on request only: SAM asks for every parameter and may save the answers; they go
# to the git-ignored samconfig.local.toml, never to the tracked samconfig.toml.
deploy-guided: build
	[ -f samconfig.local.toml ] || cp samconfig.toml samconfig.local.toml
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --guided --config-file samconfig.local.toml

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

# Organization mode (docs/benchmarks.md#organizations): the release build, then
# scripts/bench_org.py: moto holds an organization of BENCH_ORG_ACCOUNTS small member accounts
# (BENCH_ORG_ACCOUNTS=1000 on request) and one of 1,000 users; at each concurrency of
# BENCH_ORG_CONCURRENCY, on a fresh state table, a first and a steady round (the fan-out, then
# a pool of workers on the accounts queue). Prints the tables; writes $(BENCH_OUT)/org.json,
# org.txt and org.md. ~10 min at 100 accounts on 2 cores once built.
BENCH_ORG_ACCOUNTS ?= 100
BENCH_ORG_CONCURRENCY ?= 10,50
BENCH_ORG_ARGS ?=
bench-org: venv
	@set -e; started=$$(date +%s); mkdir -p $(BENCH_OUT); \
	echo "== release build"; cargo build --release --locked --bin iam-assurance; \
	echo "== organization rounds"; \
	$(PY) scripts/bench_org.py --accounts $(BENCH_ORG_ACCOUNTS) --concurrency $(BENCH_ORG_CONCURRENCY) \
	  --out $(BENCH_OUT) $(BENCH_ORG_ARGS); \
	echo "make bench-org took $$(( $$(date +%s) - started )) s"

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(TOOLS) target .aws-sam .build
