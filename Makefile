# segscan: `make demo` sets up and runs the whole pipeline on a generated corpus;
# `make test` sets up and runs the fast tests. Both create .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo

.PHONY: venv demo test test-slow bench whitening clean

$(BIN)/activate: pyproject.toml
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,service]'
	# ultralytics pulls the GUI build of OpenCV; the headless one is what a server needs
	$(BIN)/pip install -q --force-reinstall --no-deps opencv-python-headless || true
	touch $(BIN)/activate

venv: $(BIN)/activate

demo: venv
	rm -rf $(DEMO)
	$(BIN)/python -m segscan.demo make $(DEMO)
	$(BIN)/python ingest.py $(DEMO)/gallery --db $(DEMO)/db
	$(BIN)/python query.py $(DEMO)/queries/copy_of_coffee.mp4 --db $(DEMO)/db --topk 5 --json $(DEMO)/result.json

test: venv
	$(BIN)/python -m pytest

test-slow: venv
	$(BIN)/python -m pytest -m slow

bench: venv
	$(BIN)/python -m segscan.bench.figures

whitening: venv
	$(BIN)/python -m segscan.train.whitening --media ../shared/media

clean:
	rm -rf $(DEMO) segscan-db .pytest_cache
