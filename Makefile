# Two entry points that set everything up on a fresh machine (Python 3.10+, Debian):
#   make demo   – create .venv, install vtrack, count the cyclists in the sample clip
#   make test   – install the Debian packages the tests need, create .venv with test + export tools,
#                 run the whole test suite
# ../shared (models, media, MOT sequences) must sit beside the repository for demo and asset tests.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared
# torch is only for the export and parity tests; this pair is on disk on our machines and imports together.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: setup setup-dev system-deps demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev,export]" $(TORCH_PINS)
	touch $@ $(VENV)/.runtime

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

demo: setup
	$(BIN)/vtrack run $(SHARED)/media/video/bicycle_tracking_sample.mp4 \
	  --model $(SHARED)/models/yolov8n.onnx --classes bicycle \
	  --line gate=400,250,400,650 --out runs/demo

# real servers and browser used by the tests (PostgreSQL, ...), from Debian: .ci/system-packages.txt
system-deps:
	.ci/install-system-packages

test: system-deps setup-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
