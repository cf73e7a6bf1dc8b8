"""Every CUDA kernel through the real compiler, no GPU needed: NVVM to PTX, then ``ptxas`` to machine code for
sm_70, sm_80 and sm_90, in float32 and float64.

The CUDA simulator (``tests/test_numba_cuda.py``) runs the kernels' Python but type-checks nothing; here the
kernels are typed, lowered and assembled as on a GPU. The kernels are those ``compile_targets`` lists
(see ``cuda_compiler.py``); the compiler comes with the test extra, and without it these tests fail, not skip.
"""

from __future__ import annotations

import os

import numba
import pytest
from cuda_compiler import ARCHITECTURES, DTYPES, architecture, assemble, ptx_path, write_ptx

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.fail("tests/test_cuda_compile.py needs the real numba.cuda: run it without NUMBA_ENABLE_CUDASIM "
                "(make test does)", pytrace=False)

from numba.cuda.dispatcher import CUDADispatcher  # noqa: E402

from ppm_array._backends import numba_cuda  # noqa: E402
from ppm_array._backends.cuda_compile_targets import compile_targets  # noqa: E402

CASES = [pytest.param(name, dtype, cc, id=f"{name}-{dtype}-{architecture(cc)}")
         for dtype in DTYPES for name, _, _ in compile_targets(getattr(numba, dtype))
         for cc in ARCHITECTURES]


@pytest.fixture(scope="module")
def ptx_directory(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ptx")
    write_ptx(directory)
    return directory


@pytest.mark.parametrize(("name", "dtype", "cc"), CASES)
def test_kernel_compiles_to_machine_code(ptx_directory, name, dtype, cc):
    ptx = ptx_path(ptx_directory, name, dtype, cc)
    report = assemble(ptx, cc)
    assert f"for '{architecture(cc)}'" in report
    assert ptx.with_suffix(".cubin").stat().st_size > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_compile_targets_list_every_kernel_of_the_module(dtype):
    targets = compile_targets(getattr(numba, dtype))
    listed = {id(kernel) for _, kernel, _ in targets}
    kernels = {name: value for name, value in vars(numba_cuda).items()
               if isinstance(value, CUDADispatcher) and not value.targetoptions["device"]}
    assert kernels, "no kernel found in numba_cuda: is the CUDA simulator on?"
    assert [name for name, kernel in kernels.items() if id(kernel) not in listed] == []
    assert len({name for name, _, _ in targets}) == len(targets)
    assert all(isinstance(kernel, CUDADispatcher) and not kernel.targetoptions["device"] for _, kernel, _ in targets)
