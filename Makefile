# The commands README.md shows. `make demo` installs only what students need (requirements.txt: the demo,
# the notebooks, the exercises); `make test` adds the test tools (requirements-test.txt).
# Offline: `make wheels` once with internet, then `make install WHEELS=wheels` (or `make demo WHEELS=wheels`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STUDENT := $(VENV)/.installed-student
FULL := $(VENV)/.installed-full
PIP_FROM := $(if $(WHEELS),--no-index --find-links $(WHEELS))

.PHONY: demo install test tools wheels

demo: $(STUDENT)
	$(BIN)/python -m servers $(ARGS)

install: $(STUDENT)

test: $(FULL) tools
	$(BIN)/python -m pytest $(ARGS)

tools:
	@tests/install-tools.sh

$(STUDENT): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_FROM) --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_FROM) -r requirements.txt
	touch $@

$(FULL): $(STUDENT) requirements-test.txt
	$(BIN)/python -m pip install --quiet $(PIP_FROM) -r requirements-test.txt
	touch $@

# Every wheel the student install needs, for this machine's system and Python (README: "Without internet").
wheels: $(STUDENT)
	$(BIN)/python -m pip download --quiet --dest $(or $(WHEELS),wheels) pip -r requirements.txt

# docs/side-by-side.png, the picture README shows: about fifteen seconds of the demo in headless Chromium.
.PHONY: screenshot
screenshot: $(FULL) tools
	SCREENSHOT=docs/side-by-side.png $(BIN)/python -m pytest tests/test_browser.py -k screenshot -q

# The exercises' checks: `make check` for all of them, `make check EX=3` for one (exercises/README.md).
# A failing check is the checks' own news, said in their words: make adds no "Error 1" line of its own, which a
# beginner would read as a crash (so make check ends with 0; `python -m exercises.check` ends with 1 on a failure).
.PHONY: check
check: $(STUDENT)
	@$(BIN)/python -m exercises.check $(EX) || true

# The notebooks: `make lab` opens them in JupyterLab; `make notebooks` re-executes them all in place,
# outputs included (tests/test_notebooks.py runs them the same way and fails on any error).
.PHONY: lab notebooks

lab: $(STUDENT)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

notebooks: $(FULL)
	$(BIN)/python tests/test_notebooks.py
