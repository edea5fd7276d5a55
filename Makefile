# Two commands do all the set-up on a fresh machine:
#   make demo   runs the main job end to end on embedded defaults
#   make test   runs the test suite (CI runs this through .ci/run)
# Both create .venv when it is missing.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# torch is installed first, on its own, so that the project's `torch>=2.3` is already met
# and pip never resolves a multi-GB CUDA build on a CPU machine. On the project machines
# torch==2.13.0 is a CPU wheel on local disk. With a GPU, use e.g. `make TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
EXTRAS     ?= dev,s3
PYTEST_ARGS ?=

.PHONY: demo test test-fast bench wheel py-modules clean-venv mlflow-ui

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	@touch $@

demo: $(VENV)/.installed
	$(PY) jobs/demo.py

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# The fast loop for development: everything but the slow end-to-end tests.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Speed benchmarks: each prints its figures (and ratios against a baseline run in the same
# process); the last results are in docs/benchmarks.md.
bench: $(VENV)/.installed
	$(PY) benchmarks/bench_corpus.py
	$(PY) benchmarks/bench_preprocess.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_pretokenize.py
	$(PY) benchmarks/bench_token_loader.py
	$(PY) benchmarks/bench_unimo.py

wheel: $(VENV)/.installed
	$(PY) -m pip wheel --no-deps --quiet -w dist .

# The wheel's files unpacked, for a job's runtime env: `ray job submit --runtime-env-json
# '{"py_modules": ["dist/py_modules/unimo"]}'` (Ray 2.60 reinstalls every dependency of a
# .whl given there, torch and Ray included).
py-modules: wheel
	rm -rf dist/py_modules && $(PY) -m zipfile -e "$$(ls -t dist/unimo-*.whl | head -1)" dist/py_modules

mlflow-ui: $(VENV)/.installed
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(or $(UNIMO_HOME),$(CURDIR)/.unimo)/mlflow.db --host 127.0.0.1 --port 5000

clean-venv:
	rm -rf $(VENV)
