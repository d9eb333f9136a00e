# anime-gan: the two commands are `make repro` and `make test`.
# Both create .venv when it is missing and reinstall only when pyproject.toml changed.

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PROFILE ?=
DATA    ?=
PYTEST_ARGS ?=
# Where `make repro` pushes checkpoints and prepared data (DVC remote "store"); default ~/.cache/anime-gan/dvc-store
# (.dvc/config). Any DVC remote URL works, e.g. s3://bucket/anime-gan after `pip install dvc-s3`.
ANIME_GAN_DVC_REMOTE ?=

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
# Outputs already in the DVC remote are pulled instead of recomputed; after a successful run they are pushed.
repro: install
	@if [ -n "$(PROFILE)$(DATA)" ]; then \
	  $(BIN)/python -m anime_gan params $(if $(PROFILE),profile=$(PROFILE)) $(if $(DATA),data=$(DATA)); \
	fi
	@if [ -n "$(ANIME_GAN_DVC_REMOTE)" ]; then $(BIN)/dvc remote modify --local store url "$(ANIME_GAN_DVC_REMOTE)"; fi
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro --pull
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc push

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
	$(BIN)/python benchmarks/evaluate.py  # needs the anime faces (ANIME_GAN_MIRROR or a download)
	$(BIN)/python benchmarks/backbone.py

# Remove outputs from notebooks before committing (a test enforces it).
strip: install
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

clean-venv:
	rm -rf $(VENV)
