# raspa — developer commands. Every target bootstraps the virtualenv it needs.
PYTHON ?= python3
AS     ?= ana
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv run token lint format test test-unit test-functional test-integration test-e2e portal profile-check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(STAMP) ## create .venv and install the dev requirements

run: $(STAMP) ## start the whole local stack (API, page, worker, WebSocket, portal, AWS emulation)
	$(BIN)/python -m local.stack

token: $(STAMP) ## print a bearer token for the running stack's demo user AS (default ana)
	@$(BIN)/python -m local.token $(AS)

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

JOBS   ?= 3
test: $(STAMP) lint ## lint, then every test suite (JOBS=3 test processes, pytest-xdist)
	$(BIN)/pytest -n $(JOBS) --dist worksteal

test-unit: $(STAMP) ## unit tests only (no network)
	$(BIN)/pytest tests/unit

test-functional: $(STAMP) ## functional tests (moto, chalice.test.Client)
	$(BIN)/pytest tests/functional

test-integration: $(STAMP) ## worker and scraper against the demo portal on loopback
	$(BIN)/pytest tests/integration

test-e2e: $(STAMP) ## the local stack driven through Debian's Chromium (apt-get install chromium)
	$(BIN)/pytest tests/e2e

FAMILY ?= demo
PORT   ?= 8001
portal: $(STAMP) ## run a demo portal alone: FAMILY=demo|aspnet|jsf|php (PAGER=link) on PORT (8001)
ifeq ($(FAMILY),demo)
	$(BIN)/python -m local.portal --port $(PORT)
else
	$(BIN)/python -m local.families $(FAMILY) --port $(PORT) $(if $(PAGER),--pager $(PAGER))
endif

profile-check: $(STAMP) ## check a portal profile: PROFILE=file [NUMERO=n | HTML="a.html b.html"]
	./raspa profile check $(PROFILE) $(if $(NUMERO),--numero $(NUMERO)) $(foreach f,$(HTML),--html $(f))

clean: ## remove caches and local state (keeps .venv)
	rm -rf .raspa .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

.PHONY: synth test-infra
synth: $(STAMP) ## synthesize the CDK stack into infra/cdk.out (no AWS account needed)
	cd infra && $(abspath $(BIN))/python app.py cdk.out

test-infra: $(STAMP) ## the CDK stack's tests: assertions, cdk-nag, cfn-lint (needs Node.js)
	$(BIN)/pytest tests/infra

.PHONY: ops
CMD ?= status
ops: $(STAMP) ## the ops CLI on the local stack: make ops CMD="dlq" (docs/ops.md)
	$(BIN)/python -m ops --local $(CMD)

.PHONY: bench
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	@touch $@

bench: $(BENCH_STAMP) ## benchmarks vs the portal's limit and the Celery + Redis seed (docs/benchmarks.md)
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
	$(BIN)/python -m bench

.PHONY: soak
soak: $(STAMP) ## fault-injection and load scenarios at full size; writes docs/reliability.md
	$(BIN)/python -m reliability --write docs/reliability.md
