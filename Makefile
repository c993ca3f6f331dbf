# Two entry points: `make demo` (set up, add examples/article.txt, ask about it) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch's CPU wheel. This machine's pip finds it on disk; elsewhere pass
# TORCH_INDEX=https://download.pytorch.org/whl/cpu so pip does not fetch a multi-GB CUDA build.
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
DEMO_ARTICLE := examples/article.txt
DEMO_DIR := .demo-data

.PHONY: setup demo test test-fast lint bench-quality bench-news bench-speed bench-extraction bench-load bench-backends train-reader clean clean-bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/verbatim --data-dir $(DEMO_DIR) add $(DEMO_ARTICLE)
	$(BIN)/verbatim --data-dir $(DEMO_DIR) ask "How much will the repairs cost?"

test: setup
	$(BIN)/python -m pytest -q -n 2

# The sub-minute loop: everything but the tests that load the real models.
test-fast: setup
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

# mypy cannot follow the editable install's verbatim.* mapping: it checks a tree of links shaped like it
# (the tests beside it, as they import verbatim.*).
lint: setup
	$(BIN)/ruff check .
	rm -rf build/typecheck && mkdir -p build/typecheck/verbatim
	for p in bot index retrieval; do ln -s ../../../$$p build/typecheck/verbatim/$$p; done
	ln -s ../../tests build/typecheck/tests
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p verbatim -p tests

bench-quality: setup
	$(BIN)/python -m bench.quality

bench-news: setup
	$(BIN)/python -m bench.news

# Retrains index/reader_model/reader.safetensors from ../shared/train (about 75 minutes on one core).
train-reader: setup
	$(BIN)/python -m bench.train_reader

bench-speed: setup
	$(BIN)/python -m bench.speed

bench-extraction: setup
	$(BIN)/python -m bench.extraction

# 200 chats at once through the real Application and a fake Bot API (about 1.5 minutes on 2 cores);
# `$(BIN)/python -m bench.load --engine fake` checks the harness alone in seconds.
bench-load: setup
	$(BIN)/python -m bench.load

# SQLite + FAISS against PostgreSQL + pgvector: answer parity, latency at 10k / 100k / 1M sentences, adds
# per second with 1 and 4 writers (about an hour on 2 cores; `--quick` for 10k and 100k only).
bench-backends: setup
	$(BIN)/python -m bench.backends

clean:
	rm -rf $(VENV) $(DEMO_DIR) *.egg-info build

# The benchmarks' indexes, retrieval pools and readings (several GB, slow to rebuild: kept by `clean`).
clean-bench:
	rm -rf bench/.cache
