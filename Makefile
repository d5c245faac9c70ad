# The commands README.md shows. `make demo` installs only what students need (requirements.txt: the demo,
# the notebooks, the exercises); `make test` adds the test tools (requirements-test.txt).
# Offline: `make wheels` once with internet, then `make install WHEELS=wheels` (or `make demo WHEELS=wheels`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STUDENT := $(VENV)/.installed-student
FULL := $(VENV)/.installed-full
PIP_FROM := $(if $(WHEELS),--no-index --find-links $(WHEELS))

.PHONY: demo install test tools wstest wheels minimal

demo: $(STUDENT)
	$(BIN)/python -m servers $(ARGS)

install: $(STUDENT)

# The minimal pair (servers/minimal/): the seed's chat on Flask in two short files, on ports 7001 and 7002.
minimal: $(STUDENT)
	$(BIN)/python -m servers.minimal $(ARGS)

test: $(FULL) tools wstest
	$(BIN)/python -m pytest $(ARGS)

tools:
	@tests/install-tools.sh

# The Autobahn TestSuite, which tests/test_conformance.py runs, in a Python 2.7 virtualenv of its own, .wstest/
# (tests/autobahn_suite.py says why); about two minutes the first time, nothing once it is there.
wstest: $(STUDENT)
	@$(BIN)/python tests/autobahn_suite.py

# The Python version first: a Python too old is told what to install before anything is downloaded.
$(STUDENT): requirements.txt
	@$(PYTHON) -m clients.setup_check --before-install
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

# The notebooks: `make lab` opens them in JupyterLab; `make predict` writes copies with their outputs cleared
# into notebooks/predict/, for predicting before each reveal; `make notebooks` re-executes them all in place,
# outputs included (tests/test_notebooks.py runs them the same way and fails on any error).
.PHONY: lab predict notebooks

lab: $(STUDENT)
	$(BIN)/python -m jupyterlab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

predict: $(STUDENT)
	$(BIN)/python -m clients.predict

notebooks: $(FULL)
	$(BIN)/python tests/test_notebooks.py

# The RFC 6455 conformance check alone: the Autobahn TestSuite against the WebSocket server's /echo (a minute or
# two). Its report, a page per case with the frames on the wire, stays in conformance-report/index.html.
.PHONY: conformance
conformance: $(FULL)
	@$(BIN)/python tests/autobahn_suite.py --require
	CONFORMANCE_REPORT=conformance-report $(BIN)/python -m pytest tests/test_conformance.py $(ARGS)
