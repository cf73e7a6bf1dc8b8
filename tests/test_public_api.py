"""The public surface is what ``__all__`` says, and importing it touches nothing heavy."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import ppm_array as pa
from ppm_array._boundary.options import RegularizerOptions

PUBLIC = {
    "PPMRegTerms", "PersistenceSample", "exact_principal_persistence", "mmd", "mmd_value_and_grad", "persistence_vjp",
    "ppm_reg", "ppm_reg_value_and_grad", "principal_persistence", "subsample_indices",
}


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_all_lists_exactly_the_public_api():
    assert set(pa.__all__) == PUBLIC
    for name in pa.__all__:
        assert getattr(pa, name).__doc__


def test_dir_of_a_fresh_import_shows_only_the_public_api():
    """Implementation modules are private (``_mmd``, ``_backends``, ...), so no module shadows a function."""
    shown = run_python("import ppm_array; print(sorted(n for n in dir(ppm_array) if not n.startswith('_')))")
    assert shown == str(sorted(PUBLIC))


def test_import_does_not_import_compiled_or_framework_modules():
    code = (
        "import sys, ppm_array; "
        "heavy = [m for m in ('numba', 'numba.cuda', 'cupy', 'torch', 'jax') if m in sys.modules]; "
        "print(heavy)"
    )
    assert run_python(code) == "[]"


def test_public_signatures_follow_the_one_option_schema():
    """``ppm_reg`` and ``ppm_reg_value_and_grad`` list exactly the schema's options, with its defaults (and ``rng``)."""
    schema = {f.name: f for f in dataclasses.fields(RegularizerOptions)}
    for function in (pa.ppm_reg, pa.ppm_reg_value_and_grad):
        parameters = dict(inspect.signature(function).parameters)
        assert list(parameters)[:2] == ["X", "Y"]
        assert parameters.pop("rng").default is None
        assert parameters["return_terms"].default is False
        options = {name: p for name, p in parameters.items() if name not in ("X", "Y")}
        assert set(options) == set(schema)
        for name, parameter in options.items():
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
            default = schema[name].default
            assert parameter.default == (inspect.Parameter.empty if default is dataclasses.MISSING else default), name


def test_api_documentation_covers_every_public_name():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    for name in pa.__all__:
        assert f"`{name}" in text or f"{name}(" in text, name


def test_the_options_table_in_the_docs_is_the_one_the_options_write():
    """``docs/api.md`` shows the options table that the option fields give (names, defaults, meanings)."""
    from pathlib import Path

    from ppm_array._boundary.options import markdown_table

    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    assert markdown_table() in text


def test_validated_options_are_remembered_by_value_and_type():
    """Repeated plain keywords give the very options validated before; a value equal to a valid one but of
    another type (``True`` for ``1``, a bool among the dims) is still refused, and unremembered values (lists,
    NumPy numbers) are validated as ever."""
    import numpy as np
    import pytest

    keywords = dict(bandwidth=1, dims=(0, 1), n_subsamples=64)
    first = RegularizerOptions.check(**keywords)
    assert RegularizerOptions.check(**keywords) is first
    assert RegularizerOptions.check(**{**keywords, "bandwidth": 1.0}) == first
    with pytest.raises(TypeError, match="bandwidth must be a positive real number"):
        RegularizerOptions.check(**{**keywords, "bandwidth": True})
    with pytest.raises(TypeError, match="dims must be a non-negative integer; got True"):
        RegularizerOptions.check(**{**keywords, "dims": (0, True)})
    assert RegularizerOptions.check(**{**keywords, "dims": [0, 1], "bandwidth": np.float64(1)}) == first
    with pytest.raises(ValueError, match="bandwidth must be"):
        RegularizerOptions.check(**{**keywords, "bandwidth": -1.0})
    with pytest.raises(ValueError, match="bandwidth must be"):  # refusals are not remembered: refused again
        RegularizerOptions.check(**{**keywords, "bandwidth": -1.0})
