# Two commands set up a fresh machine: `make lab` (or `make run`) and `make test`.
# Each creates .venv and installs the pinned dependencies the first time.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
NBVAL  := --nbval --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:randomly

.PHONY: venv lab run test lint unit nbval notebooks bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

# Containers often run as root, which Jupyter refuses without this flag.
ROOTFLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

## JupyterLab on the notebooks, offline emulator by default
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/index.ipynb $(ROOTFLAG)

## the whole series headless on a fresh emulator; executed copies and HTML go to build/
run: $(STAMP)
	LABKIT_MODE=offline $(BIN)/python -m labkit run --out build

## ruff, the unit and integration tests, then every notebook under nbval
test: lint unit nbval

lint: $(STAMP)
	$(BIN)/ruff check labkit tests benchmarks

# Two workers, a test file each at a time (a file's fixtures stay in one process, each worker has
# its own emulator); then the tests that measure time or drive a browser, alone.
unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile -m "not serial" tests
	$(BIN)/pytest -m serial tests

nbval: $(STAMP)
	$(BIN)/pytest $(NBVAL) notebooks

## re-execute the notebooks and store their outputs (after changing labkit or a notebook)
notebooks: $(STAMP)
	$(BIN)/python -m labkit run --inplace --out build

## performance runs: ratios against the anchors named in the issues
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf build .pytest_cache .ruff_cache
