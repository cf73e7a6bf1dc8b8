"""Every option of the MMD and of PPM-Reg, defined once: a dataclass field each, with its default, its check and
its meaning.

The fields drive everything that lists the options: :meth:`MMDOptions.check` validates
keywords field by field, :meth:`RegularizerOptions.names` gives the framework adapters
their keyword list, and :func:`markdown_table` writes the options table of
``docs/api.md`` (a test holds the two equal, and the public signatures to the fields'
defaults). :class:`RegularizerOptions` extends :class:`MMDOptions`, so the MMD of a
PPM-Reg call takes its options as they are.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable
from typing import Any, cast

from . import validation as v

__all__ = ["MAX_WEIGHT_POWER", "METHODS", "SMALLEST_TOL", "MMDOptions", "RegularizerOptions", "markdown_table"]

METHODS = ("auto", "direct", "fft")
# The largest weight_power: with p = 16 a lifetime half the largest already weighs 2^-16 of it in w(l) = l^p
# (2^-32 in a kernel product), and beyond, every lifetime but the largest drops below float32's rounding.
MAX_WEIGHT_POWER = 16.0
# Below this, float64 rounding in the transforms, not tol, sets the Fourier method's error.
SMALLEST_TOL = 1e-12


def _check_weight_power(weight_power: Any, checked: dict) -> float:
    if not v.is_real(weight_power):
        raise TypeError(f"weight_power must be a real number in [1, {MAX_WEIGHT_POWER:g}]; got {weight_power!r}")
    weight_power = float(weight_power)
    if not 1 <= weight_power <= MAX_WEIGHT_POWER:  # also refuses NaN
        raise ValueError(
            f"weight_power must be a finite number in [1, {MAX_WEIGHT_POWER:g}] (the kernel's weight "
            f"is lifetime^weight_power; the paper uses 1); got {weight_power}"
        )
    return weight_power


def _check_tol(tol: Any, checked: dict) -> float:
    tol = v.check_positive_real(tol, "tol")
    if not SMALLEST_TOL <= tol < 1:
        raise ValueError(
            f"tol must lie in [{SMALLEST_TOL:g}, 1) (float64 rounding limits the Fourier method's "
            f"error to about 1e-13 relative); got {tol}"
        )
    return tol


def _check_dims(dims: Any, checked: dict) -> tuple[int, ...]:
    return v.check_dims(dims)


def _check_weights(weights: Any, checked: dict) -> tuple[float, ...]:
    return v.check_weights(weights, checked["dims"])


def _check_n_subsamples(n_subsamples: Any, checked: dict) -> tuple[int, ...]:
    """One positive ``s`` per entry of ``dims``, from one integer or a sequence of them."""
    dims = checked["dims"]
    if v.is_integer(n_subsamples):
        return tuple(v.check_n_subsamples(n_subsamples, q) for q in dims)
    if isinstance(n_subsamples, str) or not hasattr(n_subsamples, "__iter__"):
        raise TypeError(f"n_subsamples must be a positive integer or one per entry of dims; got {n_subsamples!r}")
    n_subsamples = tuple(n_subsamples)
    if len(n_subsamples) != len(dims):
        raise ValueError(f"n_subsamples must have one entry per entry of dims ({len(dims)}); got {len(n_subsamples)}")
    return tuple(v.check_n_subsamples(s, q) for s, q in zip(n_subsamples, dims))


_PLAIN = (bool, int, float, str, type(None))


def _typed(value: Any) -> Any:
    """``value`` with its type (and its entries' types, for a tuple), for :meth:`MMDOptions.check`'s memory;
    raises ``TypeError`` for anything but plain Python values and tuples of them."""
    if type(value) is tuple:
        return (tuple, tuple(_typed(entry) for entry in value))
    if type(value) not in _PLAIN:
        raise TypeError(f"{type(value).__name__} is not remembered")
    return (type(value), value)


def _untyped(typed: Any) -> Any:
    """The value :func:`_typed` was given."""
    kind, value = typed
    return tuple(_untyped(entry) for entry in value) if kind is tuple else value


@functools.lru_cache(maxsize=256)
def _remembered(cls: Any, key: tuple) -> Any:
    """``cls``'s options validated from the keywords ``key`` encodes (:meth:`MMDOptions.check`)."""
    return cls._check({name: _untyped(typed) for name, typed in key})


def _option(doc: str, check: Callable[[Any, dict], Any], default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its meaning (``doc``), its ``check(value, options_checked_so_far)`` and its
    default (none: a required option)."""
    return dataclasses.field(default=default, metadata={"doc": doc, "check": check})


@dataclasses.dataclass(frozen=True)
class MMDOptions:
    """Validated options of the kernel MMD between two PPMs (:func:`ppm_array.mmd`); build with :meth:`check`."""

    bandwidth: Any = _option(
        'kernel bandwidth `h > 0` (paper `sigma = h**2`, published code `width = 2 h**2`), or `"median"`',
        lambda value, checked: v.check_bandwidth(value),
    )
    weight_power: float = _option(
        "`p` in the weight `w(l) = l**p`, in [1, 16] (the paper: 1)", _check_weight_power, 1.0
    )
    estimator: str = _option(
        '`"v"` (the paper\'s V-statistic) or `"u"` (unbiased)', lambda value, checked: v.check_estimator(value), "v"
    )
    squared: bool = _option(
        "return `MMD^2` (`True`) or its root, the paper's `T_q`",
        lambda value, checked: v.check_bool(value, "squared"),
        True,
    )
    method: str = _option(
        '`"direct"` sums, `"fft"` (Fourier method) or `"auto"`',
        lambda value, checked: v.check_choice(value, "method", METHODS),
        "auto",
    )
    tol: float = _option("the Fourier method's error, in [1e-12, 1)", _check_tol, 1e-10)

    @property
    def unbiased(self) -> bool:
        return self.estimator == "u"

    @classmethod
    def check(cls, **keywords: Any) -> Any:
        """Validate every option (each field's check, in the fields' order, then :meth:`_check_together`); the
        fields' defaults are the library's defaults. Unknown keywords are a ``TypeError``.

        The options are frozen, so the same keywords give the same options: those of plain Python values (the
        usual case: a training loop's calls repeat them) are validated once and remembered, keyed by their
        values and types (``1`` is not ``True`` nor ``1.0``)."""
        try:
            key = tuple((name, _typed(value)) for name, value in sorted(keywords.items()))
        except TypeError:  # a value that is not remembered: a list, an array, a NumPy number
            return cls._check(keywords)
        return _remembered(cast(Hashable, cls), key)

    @classmethod
    def _check(cls, keywords: dict) -> Any:
        fields = dataclasses.fields(cls)
        unknown = sorted(set(keywords) - {f.name for f in fields})
        if unknown:
            raise TypeError(f"unexpected keyword arguments: {', '.join(unknown)}")
        checked: dict = {}
        for f in fields:
            if f.name not in keywords and f.default is dataclasses.MISSING:
                raise TypeError(f"missing required keyword argument: {f.name!r}")
            checked[f.name] = f.metadata["check"](keywords.get(f.name, f.default), checked)
        options = cls(**checked)
        options._check_together()
        return options

    def _check_together(self) -> None:
        """Constraints between options, checked after each option alone."""

    @classmethod
    @functools.cache
    def names(cls) -> tuple[str, ...]:
        """The option keywords, in the fields' order (read once: the adapters check keywords at every call)."""
        return tuple(f.name for f in dataclasses.fields(cls))


@dataclasses.dataclass(frozen=True)
class RegularizerOptions(MMDOptions):
    """Validated options of PPM-Reg (:func:`ppm_array.ppm_reg`): those of the MMD, and everything else but the
    clouds and the randomness; build with :meth:`check` or :meth:`from_keywords`."""

    dims: tuple = _option("homology dimensions `q`", _check_dims, (0, 1))
    weights: tuple = _option("`lambda_q` per entry of `dims` (default all 1)", _check_weights, None)
    n_subsamples: tuple = _option("`s` per cloud: one number, or one per entry of `dims`", _check_n_subsamples, 1024)
    replace: bool = _option(
        "draw subsamples with replacement (the paper's definition)",
        lambda value, checked: v.check_bool(value, "replace"),
        True,
    )
    backend: str = _option(
        '`"auto"`, `"numba"` or `"array_api"`', lambda value, checked: v.check_backend(value), "auto"
    )
    check_finite: bool = _option(
        "refuse NaN/inf inputs and results beyond the dtype's range",
        lambda value, checked: v.check_bool(value, "check_finite"),
        True,
    )
    return_terms: bool = _option(
        "also return the per-dimension terms and bandwidths (`PPMRegTerms`)",
        lambda value, checked: v.check_bool(value, "return_terms"),
        False,
    )

    def _check_together(self) -> None:
        if self.unbiased and min(self.n_subsamples) < 2:
            raise ValueError(f"estimator='u' needs n_subsamples >= 2; got {min(self.n_subsamples)}")

    def check_sizes(self, sizes: dict) -> None:
        """Without replacement every subsample needs ``2q + 2`` distinct points of each cloud.

        ``sizes`` maps a cloud's name to its number of points; checked before anything is computed.
        """
        if self.replace:
            return
        m = 2 * max(self.dims) + 2
        for name, n_points in sizes.items():
            if n_points < m:
                raise ValueError(
                    f"replace=False needs at least 2q+2={m} points (q={max(self.dims)}) in {name}; got {n_points}"
                )

    @classmethod
    def from_keywords(cls, owner: str, keywords: dict, *, exclude: tuple[str, ...] = ()) -> RegularizerOptions:
        """:meth:`check` for keywords collected by an adapter; errors name ``owner`` (e.g. ``PPMReg``).

        ``exclude`` lists keywords the adapter takes itself (such as ``rng``) and
        must not reach here.
        """
        unknown = sorted(set(keywords) - set(cls.names()))
        if unknown:
            hint = f" ({owner} takes {', '.join(exclude)} separately)" if set(unknown) & set(exclude) else ""
            raise TypeError(
                f"{owner} got unexpected keyword arguments: {', '.join(unknown)}{hint}; "
                f"the options are {', '.join(cls.names())}"
            )
        if "bandwidth" not in keywords:
            raise TypeError(f"{owner} missing required keyword argument: 'bandwidth'")
        return cls.check(**keywords)


def markdown_table(options: type[MMDOptions] = RegularizerOptions) -> str:
    """The options table of ``docs/api.md``: one row per field, with its default and meaning."""
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(options):
        default = "required" if f.default is dataclasses.MISSING else f"`{f.default!r}`"
        rows.append(f"| `{f.name}` | {default} | {f.metadata['doc']} |")
    return "\n".join(rows)
