# The README's commands. Each installs what it needs from the lock files, from scratch if need be:
# only python3 (3.11+), node and npm are assumed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The functions' own interpreter for the local runtime: only what Lambda gives them
# (requirements/lambda.lock: the runtime's boto3 and the Powertools layer), never the dev tools.
LAMBDA_VENV := .venv-lambda
UV_VERSION := 0.13.9

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export UV_NO_PROGRESS := 1

# Install steps say what they do and how long it took: `$(call step,what)` ... `$(call done)`.
step = @echo "==> $(1)" && date +%s > "$${TMPDIR:-/tmp}/make-step-$$PPID"
done = @started="$${TMPDIR:-/tmp}/make-step-$$PPID" && echo "    done in $$(( $$(date +%s) - $$(cat "$$started") )) s" && rm -f "$$started"

.DEFAULT_GOAL := help
.PHONY: help run credentials test lint typecheck pytest synth bootstrap deploy destroy contracts lock clean bench

help: ## this list
	@echo "Async Orders: make TARGET"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## (.*)/  \1\t\2/' | expand -t 14

run: $(VENV)/.run-deps $(LAMBDA_VENV)/.installed ## serve the API on 127.0.0.1:3000 (HOST, PORT override) backed by moto
	$(BIN)/python -m infra.local

credentials: $(VENV)/.run-deps ## exports API, TOKEN, API_KEY... for calling a running make run (use with eval)
	@$(BIN)/python -m infra.local.credentials

test: lint typecheck pytest ## everything CI runs, offline once dependencies are installed

lint: $(VENV)/.dev-deps ## ruff: lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-deps ## mypy --strict on functions/ and infra/
	$(BIN)/mypy

pytest: $(VENV)/.dev-deps $(LAMBDA_VENV)/.installed node_modules/.installed ## the tests (PYTEST_ARGS to pick)
	$(BIN)/pytest $(PYTEST_ARGS)

synth: $(VENV)/.dev-deps node_modules/.installed ## CloudFormation of every stack into cdk.out/, offline
	npx cdk synth -q

# The deployment's stage (prod, the safe default, or dev) and its options (docs/deploy.md):
#   make deploy STAGE=dev ALARM_EMAIL=ops@example.com CDK_ARGS="-c seedCatalog=true"
STAGE ?= prod
CDK_CONTEXT = -c stage=$(STAGE) $(if $(ALARM_EMAIL),-c alarmEmail=$(ALARM_EMAIL))

bootstrap: $(VENV)/.dev-deps node_modules/.installed ## needs AWS credentials: CDK's bootstrap stack, once per account and region
	npx cdk bootstrap $(CDK_CONTEXT)

# The pinned CLI (package.json) and the app's venv are installed first: this works on a fresh clone.
# Python 3.14 (uv's own build, downloaded once) compiles the code assets' bytecode for the
# runtime: cold starts skip compiling our modules (infra/code_asset.py, docs/performance.md).
deploy: $(VENV)/.dev-deps node_modules/.installed ## needs AWS credentials: every stack of STAGE, in order
	@$(BIN)/uv python install -q 3.14 || echo "note: no Python 3.14 (download failed): the code assets ship source only"
	npx cdk deploy --all $(CDK_CONTEXT) $(CDK_ARGS)

destroy: $(VENV)/.dev-deps node_modules/.installed ## needs AWS credentials: delete STAGE's stacks (prod retains its data)
	npx cdk destroy --all $(CDK_CONTEXT) $(CDK_ARGS)

bench: $(VENV)/.run-deps $(LAMBDA_VENV)/.compiled ## cold start, warm cost, memory, asset size against boto3 baselines; load levelling (.bench/)
	$(BIN)/python -m infra.tools.bench $(BENCH_ARGS)

contracts: $(VENV)/.dev-deps ## regenerate events/schemas and events/openapi.json
	$(BIN)/python -m infra.tools.contracts

lock: $(BIN)/uv ## re-resolve requirements/*.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra local --universal --python-version 3.11 \
		--generate-hashes -q -o requirements/run.lock
	$(BIN)/uv pip compile pyproject.toml --extra local --extra dev --universal \
		--python-version 3.11 --generate-hashes -c requirements/run.lock -q -o requirements/dev.lock
	$(BIN)/uv pip compile requirements/lambda.in --universal --python-version 3.11 \
		--generate-hashes -c requirements/run.lock -q -o requirements/lambda.lock

clean: ## remove every installed and generated file
	rm -rf $(VENV) $(LAMBDA_VENV) node_modules cdk.out .mypy_cache .ruff_cache .pytest_cache

$(BIN)/uv:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	@echo "==> creating $(VENV) and installing uv $(UV_VERSION) (the installer)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

# The project itself goes in editable, without dependencies (the locks have them): its scripts
# (orders-ops) are then on .venv/bin. pyproject.toml is a prerequisite because it declares them.
$(VENV)/.run-deps: requirements/run.lock pyproject.toml | $(BIN)/uv
	$(call step,installing what 'make run' needs into $(VENV) (requirements/run.lock))
	$(BIN)/uv pip install -q --python $(BIN)/python --require-hashes -r requirements/run.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(call done)
	touch $@

$(VENV)/.dev-deps: requirements/dev.lock pyproject.toml | $(BIN)/uv
	$(call step,installing the tools and libraries of 'make test' into $(VENV) (requirements/dev.lock: CDK is ~430 MB the first time))
	$(BIN)/uv pip install -q --python $(BIN)/python --require-hashes -r requirements/dev.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(call done)
	touch $(VENV)/.run-deps $@

# A plain venv (no pip) holding exactly the lock: what `infra.local` runs every function in.
$(LAMBDA_VENV)/.installed: requirements/lambda.lock | $(BIN)/uv
	rm -rf $(LAMBDA_VENV)
	$(PYTHON) -m venv --without-pip $(LAMBDA_VENV)
	$(call step,installing what Lambda gives functions into $(LAMBDA_VENV) (requirements/lambda.lock))
	$(BIN)/uv pip install -q --python $(LAMBDA_VENV)/bin/python --require-hashes \
		-r requirements/lambda.lock
	$(call done)
	touch $@

# The bench measures with bytecode compiled, as Lambda's runtime ships its boto3 and as a layer
# can ship its packages: compiling every library at each cold start would swamp the difference
# between a function and its baseline. (The functions' own code is compiled at each cold start,
# as on Lambda: the asset leaves out *.pyc.)
$(LAMBDA_VENV)/.compiled: $(LAMBDA_VENV)/.installed
	$(LAMBDA_VENV)/bin/python -m compileall -q -j 0 $(LAMBDA_VENV)/lib > /dev/null
	touch $@

node_modules/.installed: package-lock.json
	@mkdir -p node_modules
	$(call step,installing the pinned CDK CLI into node_modules (package-lock.json))
	npm ci --no-audit --no-fund --loglevel=error
	$(call done)
	touch $@
