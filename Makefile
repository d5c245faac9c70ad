# The two commands README.md shows: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.installed

.PHONY: demo test tools

demo: $(READY)
	$(BIN)/python -m servers $(ARGS)

test: $(READY) tools
	$(BIN)/python -m pytest $(ARGS)

tools:
	@tests/install-tools.sh

$(READY): requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-test.txt
	touch $@

# docs/side-by-side.png, the picture README shows: about fifteen seconds of the demo in headless Chromium.
.PHONY: screenshot
screenshot: $(READY) tools
	SCREENSHOT=docs/side-by-side.png $(BIN)/python -m pytest tests/test_browser.py -k screenshot -q

# The exercises' checks: `make check` for all of them, `make check EX=3` for one (exercises/README.md).
.PHONY: check
check: $(READY)
	$(BIN)/python -m exercises.check $(EX)

# The notebooks: `make lab` opens them in JupyterLab; `make notebooks` re-executes them all in place,
# outputs included (tests/test_notebooks.py runs them the same way and fails on any error).
.PHONY: lab notebooks

lab: $(READY)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

notebooks: $(READY)
	$(BIN)/python tests/test_notebooks.py
