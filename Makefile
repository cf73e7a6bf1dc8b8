# make test: create .venv, install ppm_array with its test extra, check style (ruff) and types (mypy), run the suites.
# make demo: the paper shape-matching experiment (ppm-array shape-match), written to results/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo gpu-check gpu-wheels bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check ppm_array
	$(BIN)/ruff format --check ppm_array
	$(BIN)/mypy
	$(BIN)/python -m pytest --ignore=tests/test_numba_cuda.py
	# The CUDA simulator must be switched on before numba.cuda is first imported: own process.
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest tests/test_numba_cuda.py

# About 25 seconds on 2 cores: both arms of the paper's default run (circle, Cramer, one seed).
demo: $(STAMP)
	$(BIN)/ppm-array shape-match --out results
	@echo "make demo: wrote results/shape_match.csv (distance per step and arm), shape_match.png and shape_match_summary.txt"

# About 12 minutes; see docs/benchmarks.md. PUBLISHED=path/to/PPM.py also times the authors' code.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_step.py $(if $(PUBLISHED),--published-code $(PUBLISHED))
	$(BIN)/python benchmarks/bench_threads.py

# On a machine with an NVIDIA GPU (see docs/benchmarks.md): CUDA tests and the GPU benchmark, whose
# results replace the GPU section of docs/benchmarks.md. PUBLISHED=path/to/PPM.py times the authors' code too.
gpu-check:
	bash benchmarks/gpu_check.sh

# The wheels gpu-check installs on a GPU machine without network access (Python $(GPU_PYTHON)): array-api-compat
# (pure Python) and NumPy < 2.5 (numba-cuda 0.30 does not compile on NumPy 2.5, which pip picks on Python >= 3.12).
GPU_PYTHON ?= 3.12
gpu-wheels:
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version $(GPU_PYTHON) --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d wheels "numpy>=2,<2.5" array-api-compat

clean:
	rm -rf $(VENV) results .pytest_cache
