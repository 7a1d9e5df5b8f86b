# minibert: every target bootstraps what it needs (a .venv with the package installed in
# editable mode), so on a fresh machine `make train` and `make test` are the whole set-up.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Stamps record which extras are installed; they are rebuilt when pyproject.toml changes.
DEV_STAMP := $(VENV)/.installed-dev
REF_STAMP := $(VENV)/.installed-ref
# Pass extra pytest arguments with `make test PYTEST_ARGS="-k softmax"`.
PYTEST_ARGS ?=

# `make train`: the recipe the README promises (tiny preset, embedded corpus, under 10 minutes on
# 2 cores). Change the budget with `make train TRAIN_STEPS=2000`.
TRAIN_OUT ?= runs/tiny
TRAIN_STEPS ?= 1500
TRAIN_ARGS ?=
# One thread for BLAS and Numba by default: measured on the 2-core machine, a training step took
# 0.30 s on one thread and 0.74 s on two as soon as any other process wanted a core (threads that
# wait for each other's time slices). On an idle machine try `make train TRAIN_THREADS=2`.
TRAIN_THREADS ?= 1
THREADS_ENV = OMP_NUM_THREADS=$(TRAIN_THREADS) OPENBLAS_NUM_THREADS=$(TRAIN_THREADS) \
	NUMBA_NUM_THREADS=$(TRAIN_THREADS)

.PHONY: help install install-ref train test test-nojit test-ref lint format bench tutorials clean

help:
	@echo "make train       pretrain a tiny BERT on the embedded corpus (the main job)"
	@echo "make test        the test suite (bootstraps .venv)"
	@echo "make test-nojit  the test suite with Numba JIT disabled (the reference kernels)"
	@echo "make test-ref    parity tests against PyTorch/transformers (installs the ref extra)"
	@echo "make bench       kernel and model benchmarks, with ratios against references"
	@echo "make tutorials   run every tutorial as a script"
	@echo "make lint        ruff check and format check"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev,plot,notebook,mpi]"
	touch $@

$(REF_STAMP): pyproject.toml $(DEV_STAMP)
	$(PY) -m pip install --quiet -e ".[dev,plot,notebook,ref]"
	touch $@

install: $(DEV_STAMP)

install-ref: $(REF_STAMP)

train: $(DEV_STAMP)
	$(THREADS_ENV) $(BIN)/minibert pretrain --config tiny --steps $(TRAIN_STEPS) --batch-size 32 \
		--max-seq-length 128 --lr 1e-3 --warmup-steps 150 --eval-every 300 --save-every 300 \
		--out $(TRAIN_OUT) $(TRAIN_ARGS)
	$(THREADS_ENV) $(BIN)/minibert fill-mask --model $(TRAIN_OUT)/model --top-k 3 \
		"a [MASK] is a program that runs in the background." \
		"the jargon file is in the public [MASK]." \
		"he spent the whole night [MASK] the bug in the kernel."

# The main suite; tests/reference runs in test-ref (it needs torch).
test: $(DEV_STAMP)
	$(PY) -m pytest tests --ignore=tests/reference $(PYTEST_ARGS)

test-nojit: $(DEV_STAMP)
	MINIBERT_DISABLE_JIT=1 $(PY) -m pytest tests --ignore=tests/reference $(PYTEST_ARGS)

test-ref: $(REF_STAMP)
	$(PY) -m pytest tests/reference $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check autograd minibert tests tutorials benchmarks
	$(BIN)/ruff format --check autograd minibert tests tutorials benchmarks

format: $(DEV_STAMP)
	$(BIN)/ruff format autograd minibert tests tutorials benchmarks
	$(BIN)/ruff check --fix autograd minibert tests tutorials benchmarks

bench: $(DEV_STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

tutorials: $(DEV_STAMP)
	@set -e; for t in tutorials/[0-9][0-9]_*.py; do \
		echo "== $$t"; MPLBACKEND=Agg $(PY) $$t; \
	done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .ruff_cache runs
