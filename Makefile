# make test: create .venv, install ppm_array with its test extra, run the suites.
# make demo: the shape-matching experiment once the command line lands (prints "not yet" until then).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo gpu-check bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest --ignore=tests/test_numba_cuda.py
	# The CUDA simulator must be switched on before numba.cuda is first imported: own process.
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest tests/test_numba_cuda.py

# The shape-matching command line (ppm-array shape-match) is not built yet (issue 4).
demo: $(STAMP)
	@echo "make demo: not yet - the ppm-array shape-match command is the next milestone."
	@echo "Meanwhile, the quickstart in README.md runs one PPM-Reg step."

bench: $(STAMP)  # about 10 minutes; see docs/benchmarks.md
	$(BIN)/python benchmarks/bench_step.py

# On a machine with an NVIDIA GPU (see docs/benchmarks.md): CUDA tests and the GPU benchmark.
gpu-check:
	bash benchmarks/gpu_check.sh

clean:
	rm -rf $(VENV) results .pytest_cache
