# Two commands do everything: `make tutorial` (the notebooks end to end) and `make test`.
# Both create and fill the virtual environment in .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A pinned torch keeps pip from pulling the CUDA wheels on CPU machines; override with TORCH_SPEC=torch.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup tutorial classroom test lint clean

$(BIN)/glt: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" || $(BIN)/python -m pip install --quiet torch
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name glt --display-name "glt (Python 3)" >/dev/null
	touch $(BIN)/glt

setup: $(BIN)/glt

tutorial: setup
	$(BIN)/python -m glt.tutorial

# A folder of data, runs, executed notebooks and the report that a class reads (README.txt in it).
classroom: setup
	$(if $(CLASSROOM),,$(error say where: make classroom CLASSROOM=DIR))
	$(BIN)/python -m glt.tutorial --classroom "$(CLASSROOM)"

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check glt tests scripts benchmarks
	$(BIN)/nbstripout --verify notebooks/*.ipynb

clean:
	rm -rf $(VENV) runs build *.egg-info
