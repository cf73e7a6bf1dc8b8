"""The package's CUDA kernels through the real compiler, without a GPU.

NVVM compiles every kernel of :func:`ppm_array._backends.cuda_compile_targets.compile_targets`
to PTX, and ``ptxas`` assembles the PTX into machine code for one architecture
(used by ``tests/test_cuda_compile.py`` and ``benchmarks/cuda_resources.py``). Both
come as wheels with ``numba-cuda[cu12]`` (the test extra).

numba-cuda asks the current device for its compute capability when it compiles the
device functions a kernel calls (``numba.cuda.dispatcher.get_current_device``), and
keeps them per signature, not per architecture: each architecture is compiled in a
fresh process (this file as a script) where a stand-in device answers, with the
CUDA simulator switched off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace

ARCHITECTURES = ((7, 0), (8, 0), (9, 0))
DTYPES = ("float32", "float64")
# The checkout these tests belong to: the processes compile its ppm_array, not another installed one.
ROOT = Path(__file__).resolve().parents[1]
# The options of a kernel's dispatcher that change the code it compiles to.
_CODE_OPTIONS = ("debug", "lineinfo", "fastmath", "opt", "launch_bounds")


def architecture(cc) -> str:
    return f"sm_{cc[0]}{cc[1]}"


def _ptx_path(directory: Path, name: str, dtype: str, cc) -> Path:
    return directory / f"{name}-{dtype}-{architecture(cc)}.ptx"


def ptx_path(directory: Path, name: str, dtype: str, cc) -> Path:
    """The PTX file :func:`write_ptx` wrote for a kernel; raises with the compiler's error where it failed."""
    path = _ptx_path(directory, name, dtype, cc)
    error = path.with_suffix(".error")
    if error.exists():
        raise RuntimeError(f"NVVM failed on {name} ({dtype}, {architecture(cc)}):\n{error.read_text()}")
    return path


def write_ptx(directory: Path, architectures=ARCHITECTURES) -> None:
    """The PTX of every kernel and dtype for each of ``architectures`` into ``directory`` (a kernel that does not
    compile: its traceback): one process per architecture, run side by side."""
    env = {name: value for name, value in os.environ.items() if name != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    processes = {cc: subprocess.Popen([sys.executable, __file__, str(directory), str(cc[0]), str(cc[1])], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for cc in architectures}
    outputs = {cc: process.communicate()[0] for cc, process in processes.items()}
    failures = [f"NVVM for {architecture(cc)} (exit status {process.returncode}):\n{outputs[cc]}"
                for cc, process in processes.items() if process.returncode != 0]
    if failures:
        raise RuntimeError("\n\n".join(failures))


def ptxas() -> str:
    """The path of ``ptxas``: from the ``nvidia-cuda-nvcc`` wheel, else a CUDA toolkit (``CUDA_HOME``)."""
    from cuda.pathfinder import find_nvidia_binary_utility

    path = find_nvidia_binary_utility("ptxas")
    if path is None:
        raise RuntimeError("ptxas not found: install the test extra (numba-cuda[cu12] brings it in the "
                           "nvidia-cuda-nvcc-cu12 wheel) or a CUDA toolkit")
    return path


def assemble(ptx: Path, cc) -> str:
    """``ptxas -v`` of ``ptx`` for ``cc``: machine code beside it (``.cubin``), and the resource report."""
    result = subprocess.run([ptxas(), "-v", f"-arch={architecture(cc)}", "-o", str(ptx.with_suffix(".cubin")),
                             str(ptx)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ptxas failed on {ptx.name}:\n{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def _compile(directory: Path, cc) -> None:
    """In this process, for ``cc`` only: the stand-in device, then every kernel and dtype to PTX."""
    import numba
    import numba.cuda.dispatcher

    numba.cuda.dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=cc)
    from ppm_array._backends.cuda_compile_targets import compile_targets

    for dtype in DTYPES:
        for name, kernel, argument_types in compile_targets(getattr(numba, dtype)):
            path = _ptx_path(directory, name, dtype, cc)
            options = {option: kernel.targetoptions[option] for option in _CODE_OPTIONS}
            try:
                ptx, _ = numba.cuda.compile_ptx(kernel.py_func, argument_types, cc=cc, **options)
            except Exception:  # reported by the test of this kernel; the others still compile
                path.with_suffix(".error").write_text(traceback.format_exc())
            else:
                path.write_text(ptx)


if __name__ == "__main__":
    _compile(Path(sys.argv[1]), (int(sys.argv[2]), int(sys.argv[3])))
