# The verbs of the project. `make run` and `make test` are all the set-up a fresh machine
# with Rust and Python 3 needs: the first call creates .venv with the pinned tools.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
STACK ?= pizza-shop

# One endpoint for every AWS client (SDKs, boto3, the CLI); point it at LocalStack to
# use that instead of the embedded moto. The dummy credentials are only for emulators.
export AWS_ENDPOINT_URL ?= http://127.0.0.1:4566
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_REGION ?= $(AWS_DEFAULT_REGION)
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export SAM_CLI_TELEMETRY := 0

.PHONY: help token aws-env run test check fmt clippy ruff lint scan unit system-test system-test-fakecloud release-check chaos deploy queues console browser push audit schemas build bench emulator-up emulator-down clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: tools/local/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/local/requirements.txt
	touch $@

run: $(VENV)/.installed ## emulator, stack and every function running; the API on http://127.0.0.1:3000
	tools/local/run.sh $(RUN_ARGS)

test: check unit system-test release-check ## everything CI checks: format, lints, unit and system tests, a release zip

check: fmt clippy ruff lint scan ## formatting, lints (Rust, Python, the template) and the template's security scan

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --quiet -- -D warnings

ruff: $(VENV)/.installed ## the Python tooling formatted and linted (ruff.toml)
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/ruff check

lint: $(VENV)/.installed ## cfn-lint on the template, and on its SAM expansion: as it is, with the crust stage, without the event archive
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(PYTHON) tools/local/deploy.py --expand-only .local/expanded.json
	$(PYTHON) tools/local/deploy.py --expand-only .local/expanded-crust.json --parameter CrustStage=enabled
	$(PYTHON) tools/local/deploy.py --expand-only .local/expanded-no-archive.json --parameter EventArchive=disabled
	$(VENV)/bin/cfn-lint .local/expanded.json .local/expanded-crust.json .local/expanded-no-archive.json

SCAN_VENV := .venv-scan

$(SCAN_VENV)/.installed: tools/scan/requirements.txt
	python3 -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/scan/requirements.txt
	touch $@

scan: lint $(SCAN_VENV)/.installed ## checkov over the template and its SAM expansions; every skipped check says why in .checkov.yaml
	$(SCAN_VENV)/bin/checkov --config-file .checkov.yaml -f infra/template.yaml -f .local/expanded.json -f .local/expanded-crust.json -f .local/expanded-no-archive.json

unit: $(VENV)/.installed ## unit tests: Rust (domain, adapters in memory, fixtures, schemas) and the deploy tooling
	cargo test --workspace --exclude system-tests
	cd tools/local && ../../$(PYTHON) -m unittest --quiet

system-test: $(VENV)/.installed $(VENV)/.cargo-lambda browser ## the system against the emulator (started here unless one answers)
	cargo build --bins
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" tools/local/with-emulator.sh cargo test -p system-tests -- --test-threads 4

FAKECLOUD_ENDPOINT ?= http://127.0.0.1:4599
system-test-fakecloud: ## the system tests on fakecloud, the opt-in second emulator (AGPL-3.0, a separate process; built once, about 50 minutes, into ~/.cache/fakecloud)
	tools/local/install-fakecloud.sh >/dev/null
	EMULATOR=fakecloud AWS_ENDPOINT_URL=$(FAKECLOUD_ENDPOINT) $(MAKE) system-test

chaos: $(VENV)/.installed ## 1,000 pizzas in 100 orders through duplicates, killed processes, a 200 s AWS outage and 2 minutes of AWS failures, healed with nobody in the loop, then the audit (CHAOS_SEED=n replays)
	cargo build --bins
	CHAOS_ORDERS=$${CHAOS_ORDERS:-100} CHAOS_OUTAGE_SECONDS=$${CHAOS_OUTAGE_SECONDS:-200} CHAOS_STORM_SECONDS=$${CHAOS_STORM_SECONDS:-120} \
	  tools/local/with-emulator.sh cargo test -p system-tests --test crashes -- --nocapture pizzas_through

deploy: $(VENV)/.installed ## deploy the template to the emulator at AWS_ENDPOINT_URL (must be running)
	$(PYTHON) tools/local/deploy.py --stack-name $(STACK) --manifest .local/$(STACK).json

CUSTOMER ?= c-42
token: ## print a sign-in token of CUSTOMER (default c-42) for the local stack's API: curl -H "Authorization: Bearer $$(make -s token)"
	@cargo run --quiet -p local-runner --bin pizza-local -- --manifest .local/$(STACK).json token $(CUSTOMER)

aws-env: ## print the exports that point this shell's AWS clients (the `pizza` command) at the local stack: eval "$$(make -s aws-env)"
	@printf 'export %s=%q\n' AWS_ENDPOINT_URL "$(AWS_ENDPOINT_URL)" AWS_REGION "$(AWS_REGION)" AWS_DEFAULT_REGION "$(AWS_DEFAULT_REGION)" AWS_ACCESS_KEY_ID "$(AWS_ACCESS_KEY_ID)" AWS_SECRET_ACCESS_KEY "$(AWS_SECRET_ACCESS_KEY)"

queues: ## queue and DLQ depths of the running stack (more: `cargo run -p pizza-cli -- --help`)
	cargo run --quiet -p pizza-cli --bin pizza -- queues --stack $(STACK)

push: $(VENV)/.cargo-lambda ## put a new build of one function on the running stack with cargo lambda deploy (FUNCTION=api; BINARY=path, else `make build`'s)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo run --quiet -p pizza-cli --bin pizza -- push $(FUNCTION) --stack $(STACK) $(if $(BINARY),--binary-path $(BINARY))

console: ## watch the running stack in a browser: http://127.0.0.1:8765/ (orders by state, the kitchen, the queues, an order's waterfall)
	cargo run --quiet -p pizza-cli --bin pizza -- console --stack $(STACK)

browser: ## Debian's Chromium for the console's browser test, installed where missing
	tools/local/install-browser.sh

audit: ## check the running stack's invariants: no double charge, no leaked stock
	cargo run --quiet -p pizza-cli --bin pizza -- audit --stack $(STACK)

schemas: ## publish JSON Schemas of new event types or versions to events/schemas, and the manifest's to tools/local
	UPDATE_SCHEMAS=1 cargo test --quiet -p pizza-events --test schemas
	UPDATE_SCHEMAS=1 cargo test --quiet -p local-runner --test manifest_schema

$(VENV)/.cargo-lambda: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check cargo-lambda==1.9.2
	touch $@

# Lambda's processor for `make build`: arm64 (the template's default, cheaper per
# GB-second) where the aarch64 standard library is installed, else x86_64; ARCH=... picks.
# Deploy with the same: `sam deploy --parameter-overrides Architecture=$(ARCH)`.
ARCH ?= $(shell rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu && echo arm64 || echo x86_64)
ARCH_FLAG = $(if $(filter arm64,$(ARCH)),--arm64,--x86-64)
ARCH_WHY = $(if $(filter arm64,$(ARCH)),the aarch64 standard library is installed,no aarch64 standard library here (rustup target add aarch64-unknown-linux-gnu for arm64))
# Every function's package: the workspace members under functions/, read from cargo.
FUNCTION_PACKAGES = $(shell cargo metadata --no-deps --format-version 1 | python3 -c 'import json, sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["packages"] if "/functions/" in p["manifest_path"]))')
build: $(VENV)/.cargo-lambda ## release zips of every function for AWS (cargo lambda) in <target dir>/lambda/; arm64 where it can, else x86_64 (ARCH=)
	@echo "make build: $(ARCH), as $(ARCH_WHY)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(ARCH_FLAG) --output-format zip $(addprefix -p ,$(FUNCTION_PACKAGES))

release-check: $(VENV)/.cargo-lambda ## the release path works: one function's zip built with cargo lambda, and checked
	@echo "release-check: $(ARCH), as $(ARCH_WHY)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(ARCH_FLAG) --output-format zip -p outbox-relay
	$(PYTHON) tools/local/check_release.py "$${CARGO_TARGET_DIR:-target}/lambda/relay/bootstrap.zip" --arch $(ARCH)

BASELINE_VENV := .venv-baseline

$(BASELINE_VENV)/.installed: bench/baseline/requirements.txt
	python3 -m venv $(BASELINE_VENV)
	$(BASELINE_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/baseline/requirements.txt
	touch $@

bench: $(VENV)/.installed $(BASELINE_VENV)/.installed ## figures as `name: value` lines: the whole bill of a 20-pizza order and of a realistic mix, the Powertools baseline, local speed (docs/benchmarks.md); BENCH_PARAMETERS="--parameter EventArchive=disabled" prices the stack without its event archive, BENCH_ARGS="--no-speed --no-baseline" skips parts
	cargo build --quiet --profile bench-local --bins
	$(PYTHON) tools/local/deploy.py --expand-only .local/bench-expanded.json --parameter Namespace=bench- $(BENCH_PARAMETERS)
	tools/local/with-emulator.sh bash -c '$(PYTHON) tools/local/deploy.py --stack-name bench --manifest .local/bench.json --parameter Namespace=bench- $(BENCH_PARAMETERS) \
	  && cargo run --quiet --profile bench-local -p pizza-bench -- --manifest .local/bench.json --expanded .local/bench-expanded.json $(BENCH_ARGS)'

emulator-up: $(VENV)/.installed
	tools/local/emulator.sh up

emulator-down:
	tools/local/emulator.sh down

clean:
	rm -rf .local target
