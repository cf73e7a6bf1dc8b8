"""Registers, spills and static shared memory of every CUDA kernel, from ``ptxas -v`` (no GPU needed).

Each kernel of ``compile_targets`` (``_backends/cuda_compile_targets.py``), in each dtype, is compiled by NVVM to PTX
and assembled by ``ptxas`` for each architecture that ``tests/test_cuda_compile.py`` checks (``tests/cuda_compiler.py``; the
compiler comes with the test extra). The table replaces the one in ``docs/backends.md`` between
``<!-- cuda-resources:begin -->`` and ``<!-- cuda-resources:end -->``.

    python benchmarks/cuda_resources.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import textwrap
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's ppm_array, as the compiling processes
from cuda_compiler import ARCHITECTURES, DTYPES, architecture, assemble, ptx_path, ptxas, write_ptx  # noqa: E402

DOC = ROOT / "docs" / "backends.md"
BEGIN, END = "<!-- cuda-resources:begin -->", "<!-- cuda-resources:end -->"


def resources(report: str) -> tuple[int, int, int]:
    """Registers, spilled bytes (stores and loads, of the kernel and any function it calls) and static shared
    memory in bytes, from the report of ``ptxas -v`` on one kernel."""
    registers = int(re.search(r"Used (\d+) registers", report).group(1))
    spills = sum(int(n) for n in re.findall(r"(\d+) bytes spill (?:stores|loads)", report))
    shared = re.search(r"(\d+) bytes smem", report)
    return registers, spills, int(shared.group(1)) if shared else 0


def cell(values) -> str:
    """One number where every architecture agrees, else one per architecture."""
    return str(values[0]) if len(set(values)) == 1 else " / ".join(map(str, values))


def table(directory: Path) -> str:
    import numba

    from ppm_array._backends.cuda_compile_targets import compile_targets

    release = re.search(r"release ([\d.]+), (V[\d.]+)", subprocess.run(
        [ptxas(), "--version"], capture_output=True, text=True, check=True).stdout)
    architectures = " / ".join(architecture(cc) for cc in ARCHITECTURES)
    lines = [textwrap.fill(f"From `python benchmarks/cuda_resources.py`: NVVM's PTX (numba-cuda "
                           f"{version('numba-cuda')}) assembled by `ptxas -v` of CUDA {release[1]} ({release[2]}). "
                           f"Where the architectures differ, one number each ({architectures}). Spills: bytes "
                           "stored plus bytes loaded.", width=88),
             "",
             "| kernel | dtype | registers | spills (bytes) | static shared memory (bytes) |",
             "|---|---|---|---|---|"]
    for dtype in DTYPES:
        for name, _, _ in compile_targets(getattr(numba, dtype)):
            measured = [resources(assemble(ptx_path(directory, name, dtype, cc), cc)) for cc in ARCHITECTURES]
            lines.append(f"| `{name}` | {dtype} | " + " | ".join(cell(column) for column in zip(*measured)) + " |")
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        write_ptx(Path(directory))
        text = table(Path(directory))
    before, rest = DOC.read_text().split(BEGIN)
    _, after = rest.split(END)
    DOC.write_text(f"{before}{BEGIN}\n{text}\n{END}{after}")
    print(text)


if __name__ == "__main__":
    main()
