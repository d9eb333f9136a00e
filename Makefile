# anime-gan: the two commands are `make repro` and `make test`.
# Both create .venv when it is missing and reinstall only when pyproject.toml changed.

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PROFILE ?=
DATA    ?=
PYTEST_ARGS ?=

# The installed stamp depends on pyproject.toml, so `make` is a no-op when nothing changed.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (anime-gan)" >/dev/null
	@touch $@

.PHONY: install repro test test-unit test-notebooks lab bench strip clean-venv

install: $(VENV)/.installed

# Run the whole pipeline (dvc repro). PROFILE=smoke|cpu|paper and DATA=<dataset> override params.yaml.
repro: install
	@if [ -n "$(PROFILE)$(DATA)" ]; then \
	  $(BIN)/python -m anime_gan params $(if $(PROFILE),profile=$(PROFILE)) $(if $(DATA),data=$(DATA)); \
	fi
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

# Unit tests, then every notebook through nbval at its smoke parameters.
test: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: install
	$(BIN)/jupyter lab notebooks

bench: install
	$(BIN)/python benchmarks/train_step.py

# Remove outputs from notebooks before committing (a test enforces it).
strip: install
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

clean-venv:
	rm -rf $(VENV)
