"""Pure helpers behind the physicists' JSON commands ``manage.py dvh`` and ``manage.py tg43`` (no Django).

Each public ``run_*`` function takes the command's arguments as plain values, validates them, calls the pure
cores (:mod:`dosimetry.tg43`, :mod:`dosimetry.dvh`, :mod:`dosimetry.dicom_io`) and returns a JSON-ready list of
dicts (floats, strings and ``None`` only; never NaN). Every bad input — unknown seed model, missing or
unreadable file, bad JSON, wrong shape, negative strength, DICOM errors, unknown structure, DVH or TG-43 engine
refusals — is raised as :class:`CliInputError` whose message is **one line** naming the field (or file), the
value and what is allowed. The management commands turn it into ``CommandError(message, returncode=2)``.

Units: positions in cm (patient coordinates), air-kerma strength in U (1 U = 1 µGy·m²·h⁻¹ = 1 cGy·cm²·h⁻¹),
dose rate in cGy/h, doses in Gy, volumes in cm³, percentages 0–100.

Contracts (kept stable; other tools parse this output):

* :func:`run_dvh` → one object per structure with exactly the keys :data:`DVH_KEYS`, in that order.
* :func:`run_tg43` → one object per point, in input order, with the keys :data:`TG43_KEYS`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray

from common.errors import InputError
from dosimetry import tg43
from dosimetry.dicom_io import (
    DicomImportError,
    RtStructureSet,
    check_same_frame_of_reference,
    read_rtdose,
    read_rtplan_seeds,
    read_rtstruct,
)
from dosimetry.dvh import ContourOutsideGridError, DoseGrid, DVHError, SamplingSettings, Structure, summary
from dosimetry.sources import SeedModelData, UnknownSeedModelError, get_seed_model

__all__ = [
    "DEFAULT_DVH_COMMAND_SETTINGS",
    "DEFAULT_SEED_AXIS",
    "DEFAULT_TG43_COMMAND_SETTINGS",
    "DVH_KEYS",
    "FORMALISMS",
    "TG43_KEYS",
    "TG43_METHODS",
    "CliInputError",
    "DvhCommandSettings",
    "SeedSet",
    "Tg43CommandSettings",
    "Tg43Options",
    "canonical_points_cm",
    "dvh_summaries",
    "json_ready",
    "parse_points_cm",
    "parse_seeds",
    "read_json_file",
    "read_points_file",
    "run_dvh",
    "run_tg43",
    "run_tg43_json",
    "seeds_from_rtplan",
    "tg43_json",
    "tg43_point_doses",
    "tg43_rates",
    "to_json",
]

FloatArray = NDArray[np.float64]

#: Keys of one ``dvh`` result object, in output order (contract).
DVH_KEYS: Final[tuple[str, ...]] = (
    "name",
    "volume_cm3",
    "d90_gy",
    "d100_gy",
    "dmin_gy",
    "dmean_gy",
    "dmax_gy",
    "v100_pct",
    "v150_pct",
    "v200_pct",
    "hi",
)
#: Keys of one ``tg43`` result object, in output order (contract).
TG43_KEYS: Final[tuple[str, ...]] = ("point_cm", "dose_rate_cgy_per_h", "total_dose_gy")
#: Accepted ``--formalism`` values: 2-D line source, or 1-D (orientation unknown); see :mod:`dosimetry.tg43`.
FORMALISMS: Final[tuple[str, ...]] = ("line", "point")
#: Accepted ``--method`` values: ``exact`` = the float64 formulas (default, today's numbers), ``table`` = the
#: engine's float32 (√r, sin θ) table (≥ 0.05 cm from a seed's active segment within 0.2 % of exact; see dosimetry.tg43).
TG43_METHODS: Final[tuple[str, ...]] = ("exact", "table")
#: Seed axis assumed when a seed's orientation is not given (seeds JSON without "axis", every RT Plan seed).
DEFAULT_SEED_AXIS: Final[tuple[float, float, float]] = (0.0, 0.0, 1.0)

_SEED_KEYS: Final[frozenset[str]] = frozenset({"position_cm", "axis", "air_kerma_strength_u"})


class CliInputError(InputError):
    """Bad command input; ``str()`` is one line naming the field or file, the value and what is allowed."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


@dataclass(frozen=True)
class Tg43CommandSettings:
    """Choices of the ``tg43`` command. Every field has SeedTrack's default [DESIGN DECISION].

    engine: TG-43 engine settings. Default: the exact float64 formulas (``use_table=False``), because the
        command evaluates a list of points, not a grid; the reference point then gives exactly S_K·Λ (the
        fast table path agrees within 0.2 %).
    default_axis: unit vector assumed for a seed whose axis is unknown (cm frame; default patient z, the
        usual needle direction, dosimetry.md §4.1 "Seed conventions").
    require_positive_strength: refuse S_K = 0 U as well as negative values (a seed of zero strength is
        almost certainly a data error); ``False`` accepts 0 U.
    """

    engine: tg43.Tg43Settings = field(default_factory=lambda: tg43.Tg43Settings(use_table=False))
    default_axis: tuple[float, float, float] = DEFAULT_SEED_AXIS
    require_positive_strength: bool = True


DEFAULT_TG43_COMMAND_SETTINGS = Tg43CommandSettings()


@dataclass(frozen=True)
class DvhCommandSettings:
    """Choices of the ``dvh`` command [DESIGN DECISION]s.

    sampling: DVH sampling (:class:`dosimetry.dvh.SamplingSettings`); default the DVH core's defaults (half
        end slabs), which refuse structures that extend outside the dose grid (``require_inside_grid=True``).
        The ``dvh`` command passes the protocol's (:meth:`DosimetrySettings.sampling_settings`).
    """

    sampling: SamplingSettings = field(default_factory=SamplingSettings)


DEFAULT_DVH_COMMAND_SETTINGS = DvhCommandSettings()


@dataclass(frozen=True, eq=False)
class SeedSet:
    """Seeds for the TG-43 engine.

    positions_cm: (S, 3) seed centres in cm. axes: (S, 3) vectors along each seed (not necessarily unit).
    strengths_u: (S,) air-kerma strength per seed in U. origin: where they came from (file name).
    """

    positions_cm: FloatArray
    axes: FloatArray
    strengths_u: FloatArray
    origin: str

    @property
    def n_seeds(self) -> int:
        return int(self.positions_cm.shape[0])


# ---------------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------------


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _short(value: object, limit: int = 80) -> str:
    text = _one_line(repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite_number(value: object, where: str, allowed: str) -> float:
    if not _is_number(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise CliInputError(f"{where}={_short(value)}: must be {allowed}")
    return float(value)  # type: ignore[arg-type]


def _vector3(value: object, where: str, what: str) -> tuple[float, float, float]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise CliInputError(f"{where}={_short(value)}: must be a list of 3 numbers [x, y, z] ({what})")
    x, y, z = (_finite_number(v, f"{where}[{i}]", f"a finite number ({what})") for i, v in enumerate(value))
    return (x, y, z)


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars/arrays made plain and every non-finite float (NaN, ±inf) turned into None."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def to_json(value: Any) -> str:
    """Serialise a command result as strict JSON (NaN/inf become ``null``; ``allow_nan=False``).

    A list is printed one element per line (``[\n  {...},\n  {...}\n]``), which keeps long point lists
    readable and diff-able; anything else on one line.
    """
    ready = json_ready(value)
    if isinstance(ready, list) and ready:
        body = ",\n".join("  " + json.dumps(item, ensure_ascii=False, allow_nan=False) for item in ready)
        return "[\n" + body + "\n]"
    return json.dumps(ready, ensure_ascii=False, allow_nan=False)


def _read_text(path: str | os.PathLike[str], option: str) -> tuple[Path, str]:
    p = Path(os.fspath(path))
    try:
        return p, p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliInputError(f"{option} {p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliInputError(f"{option} {p}: cannot be read ({type(exc).__name__}: {exc})") from exc


def _loads(text: str, p: Path, option: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliInputError(f"{option} {p}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc


def read_json_file(path: str | os.PathLike[str], option: str) -> Any:
    """Parse the JSON file given with ``option`` (e.g. ``"--seeds"``). Missing/unreadable/invalid → CliInputError."""
    p, text = _read_text(path, option)
    return _loads(text, p, option)


# ---------------------------------------------------------------------------------------------------------------
# tg43
# ---------------------------------------------------------------------------------------------------------------


def parse_points_cm(data: Any, field_name: str = "points") -> FloatArray:
    """``[[x, y, z], …]`` (cm) → (P, 3) float64 array. At least one point; every coordinate finite."""
    if not isinstance(data, list):
        raise CliInputError(f"{field_name}: must be a JSON list of points [[x, y, z], …] in cm, got {type(data).__name__}")
    if not data:
        raise CliInputError(f"{field_name}: the list is empty; give at least one point [x, y, z] in cm")
    pts = [_vector3(p, f"{field_name}[{i}]", "cm") for i, p in enumerate(data)]
    return np.asarray(pts, dtype=np.float64).reshape(-1, 3)


#: Characters of a canonical points file once "], [" between points is replaced by ", " (no exponent).
_CANONICAL_POINT_CHARS: Final[bytes] = b"0123456789.-, "
#: Most digits of a canonical coordinate: ≤ 15 significant digits round-trip through float64 unchanged.
_CANONICAL_MAX_DIGITS: Final[int] = 15


def canonical_points_cm(text: str) -> tuple[FloatArray, list[str]] | None:
    """Fast path for a points file written like ``json.dumps(points)``: ``[[x, y, z], [x, y, z], …]``.

    Accepted only when every coordinate is already printed as Python prints that float (``repr``: plain decimal
    with a point, at least one digit on each side, no leading or trailing zero, at most 15 digits, |x| ≥ 1e-4
    unless 0), with ", " between numbers and "], [" between points. Returns the (P, 3) float64 array and, per
    point, the text ``"x, y, z"``, which is then exactly what ``json.dumps`` prints for it (so the output can
    reuse it). Anything else returns None and the caller parses with :func:`json.loads` /
    :func:`parse_points_cm` (same numbers, same error messages); no input is accepted here that they refuse.
    """
    s = text.strip(" \t\n\r")  # JSON whitespace only
    if len(s) < 7 or not (s.startswith("[[") and s.endswith("]]")) or not s.isascii():
        return None
    raw = s[2:-2].encode("ascii")
    rb = np.frombuffer(raw, dtype=np.uint8)
    commas = np.flatnonzero(rb == ord(","))
    n_pts = (commas.size + 1) // 3
    if commas.size != 3 * n_pts - 1 or commas[0] == 0:
        return None
    if not np.array_equal(rb[commas - 1] == ord("]"), np.arange(commas.size) % 3 == 2):
        return None  # exactly three numbers per point
    flat = raw.replace(b"], [", b", ")
    if flat.translate(None, _CANONICAL_POINT_CHARS):
        return None  # only digits, ".", "-" and ", " left: every bracket was part of a "], [" between points
    b = np.frombuffer(flat, dtype=np.uint8)
    seps = np.flatnonzero(b == ord(","))
    if np.count_nonzero(b == ord(" ")) != seps.size or seps[-1] + 2 >= b.size or np.any(b[seps + 1] != ord(" ")):
        return None  # every separator is exactly ", "
    # each number: [-]digits.digits (its characters can only be digits, "." and "-" now)
    starts = np.concatenate(([0], seps + 2))
    ends = np.concatenate((seps, [b.size]))
    dots = np.flatnonzero(b == ord("."))
    if dots.size != starts.size or np.any(dots <= starts) or np.any(dots >= ends - 1):
        return None  # exactly one decimal point inside every number, not at its end
    padded = np.concatenate((b, np.zeros(6, dtype=np.uint8)))  # reads past the end see NUL, not a digit
    negative = padded[starts] == ord("-")
    first = starts + negative  # first digit
    last = ends - 1

    def is_digit(at: NDArray[np.intp]) -> NDArray[np.bool_]:
        return (padded[at] - np.uint8(ord("0"))) < 10  # uint8 wraps below "0"

    def is_zero(at: NDArray[np.intp]) -> NDArray[np.bool_]:
        return padded[at] == ord("0")

    if (
        np.count_nonzero(b == ord("-")) != np.count_nonzero(negative)  # a sign only in front
        or np.any(ends - starts - 1 - negative > _CANONICAL_MAX_DIGITS)
        or not (np.all(is_digit(first)) and np.all(is_digit(dots - 1)) and np.all(is_digit(dots + 1)))
        or np.any(is_zero(first) & (padded[first + 1] != ord(".")))  # no leading zero
        or np.any(is_zero(last) & (padded[last - 1] != ord(".")))  # no trailing zero except "x.0"
        or np.any(is_zero(first) & is_zero(first + 2) & is_zero(first + 3) & is_zero(first + 4) & is_zero(first + 5))
    ):  # (the last line: 0 < |x| < 1e-4, which repr writes with an exponent)
        return None
    values = np.fromstring(flat, dtype=np.float64, sep=",")  # type: ignore[call-overload]
    if values.size != 3 * n_pts:
        return None
    return values.reshape(n_pts, 3), s[2:-2].split("], [")


#: Characters that start a JSON value other than a number or a list (true, false, null, NaN, Infinity, "…", {…}).
_NOT_A_PLAIN_NUMBER: Final[str] = 'tfnNI"{'


def read_points_file(path: str | os.PathLike[str], field_name: str) -> tuple[FloatArray, list[str] | None]:
    """The ``--points`` file → (P, 3) float64 array in cm and, when the file is canonical, each point's text.

    Same numbers and error messages as ``parse_points_cm(read_json_file(path, "--points"))``; a file in the
    form ``json.dumps`` writes is parsed without building Python objects (:func:`canonical_points_cm`); any
    other file holding only numbers and lists goes through one ``np.array`` call after :func:`json.loads`.
    """
    p, text = _read_text(path, "--points")
    fast = canonical_points_cm(text)
    if fast is not None:
        return fast[0], fast[1]
    data = _loads(text, p, "--points")
    if not any(c in text for c in _NOT_A_PLAIN_NUMBER):  # only numbers and lists: no bool, null, text, object
        try:
            arr = np.array(data, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            if arr.ndim == 2 and arr.shape[0] >= 1 and arr.shape[1] == 3 and np.all(np.isfinite(arr)):
                return arr, None
    return parse_points_cm(data, field_name=field_name), None


def parse_seeds(
    data: Any,
    origin: str = "seeds",
    settings: Tg43CommandSettings = DEFAULT_TG43_COMMAND_SETTINGS,
) -> SeedSet:
    """Seeds JSON → :class:`SeedSet`.

    Format: ``[{"position_cm": [x, y, z], "axis": [ux, uy, uz], "air_kerma_strength_u": s}, …]``; ``axis`` is
    optional (default ``settings.default_axis``, i.e. along z) and must be non-zero; any other key is refused
    (a misspelt key must not silently fall back to a default). ``s`` in U, > 0 (≥ 0 if
    ``settings.require_positive_strength`` is False).
    """
    if not isinstance(data, list):
        raise CliInputError(f"{origin}: must be a JSON list of seed objects, got {type(data).__name__}")
    if not data:
        raise CliInputError(f"{origin}: the list is empty; give at least one seed")
    positions, axes, strengths = [], [], []
    for i, item in enumerate(data):
        where = f"{origin}[{i}]"
        if not isinstance(item, dict):
            raise CliInputError(
                f"{where}={_short(item)}: must be an object "
                '{"position_cm": [x, y, z], "axis": [ux, uy, uz], "air_kerma_strength_u": s}'
            )
        unknown = sorted(set(item) - _SEED_KEYS)
        if unknown:
            raise CliInputError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_SEED_KEYS))}")
        for key in ("position_cm", "air_kerma_strength_u"):
            if key not in item:
                raise CliInputError(f"{where}: missing key {key!r}")
        positions.append(_vector3(item["position_cm"], f"{where}.position_cm", "cm"))
        if "axis" in item and item["axis"] is not None:
            axis = _vector3(item["axis"], f"{where}.axis", "direction of the seed's long axis")
            if math.hypot(*axis) < 1e-12:
                raise CliInputError(f"{where}.axis={list(axis)}: must be a non-zero vector along the seed")
        else:
            axis = settings.default_axis
        axes.append(axis)
        strength = _finite_number(item["air_kerma_strength_u"], f"{where}.air_kerma_strength_u", "a finite number of U")
        if strength < 0 or (settings.require_positive_strength and strength == 0):
            bound = "> 0" if settings.require_positive_strength else "≥ 0"
            raise CliInputError(f"{where}.air_kerma_strength_u={strength!r}: must be {bound} U")
        strengths.append(strength)
    return SeedSet(
        positions_cm=np.asarray(positions, dtype=np.float64),
        axes=np.asarray(axes, dtype=np.float64),
        strengths_u=np.asarray(strengths, dtype=np.float64),
        origin=origin,
    )


def seeds_from_rtplan(
    path: str | os.PathLike[str], settings: Tg43CommandSettings = DEFAULT_TG43_COMMAND_SETTINGS
) -> SeedSet:
    """Seeds of a permanent-implant RT Plan: positions (cm) and per-seed S_K (U) as stored in the plan.

    The strength is the plan's ReferenceAirKermaRate at its SourceStrengthReferenceDate/Time (not decayed to
    an implant date, which the plan does not carry). The plan encodes no seed orientation, so every axis is
    ``settings.default_axis`` (patient z). DICOM errors become :class:`CliInputError`.
    """
    try:
        plan = read_rtplan_seeds(os.fspath(path))
    except DicomImportError as exc:
        raise CliInputError(f"--rtplan: {exc}") from exc
    n = plan.n_seeds
    return SeedSet(
        positions_cm=np.asarray(plan.positions_cm, dtype=np.float64),
        axes=np.tile(np.asarray(settings.default_axis, dtype=np.float64), (n, 1)),
        strengths_u=np.asarray(plan.seed_strengths_u, dtype=np.float64),
        origin=plan.file_name,
    )


def _model(code: str) -> SeedModelData:
    try:
        return get_seed_model(code)
    except UnknownSeedModelError as exc:
        raise CliInputError(f"--model: {exc}") from exc


def _formalism(formalism: str) -> tg43.Formalism:
    if formalism not in FORMALISMS:
        raise CliInputError(f"--formalism={formalism!r}: must be one of {', '.join(FORMALISMS)}")
    return "line" if formalism == "line" else "point"


def _engine(settings: Tg43CommandSettings, method: str | None) -> tg43.Tg43Settings:
    if method is None:
        return settings.engine
    if method not in TG43_METHODS:
        raise CliInputError(f"--method={method!r}: must be one of {', '.join(TG43_METHODS)}")
    return replace(settings.engine, use_table=method == "table")


def tg43_rates(
    model: SeedModelData,
    seeds: SeedSet,
    points_cm: FloatArray,
    formalism: str = "line",
    settings: Tg43CommandSettings = DEFAULT_TG43_COMMAND_SETTINGS,
    method: str | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(P,) dose rate Ḋ0 (cGy/h) and (P,) permanent-implant total dose (Gy, to infinity) at each point.

    ``total_dose_gy = Ḋ0 · τ / 100`` with τ = T½/ln 2 in hours from ``model.half_life_days`` (reference §3.3).
    ``method`` None uses ``settings.engine``; ``"exact"`` / ``"table"`` choose the engine's path (TG43_METHODS).
    """
    form = _formalism(formalism)
    engine = _engine(settings, method)
    try:
        rate = tg43.dose_rate_cgy_per_h(
            seeds.positions_cm,
            seeds.axes if form == "line" else None,
            seeds.strengths_u,
            points_cm,
            model,
            form,
            engine,
        )
        total_cgy = np.asarray(tg43.total_dose_cgy_from_initial_rate(rate, model.half_life_days), dtype=np.float64)
    except tg43.Tg43InputError as exc:
        raise CliInputError(str(exc)) from exc
    return rate, np.atleast_1d(total_cgy) / 100.0


def tg43_point_doses(
    model: SeedModelData,
    seeds: SeedSet,
    points_cm: FloatArray,
    formalism: str = "line",
    settings: Tg43CommandSettings = DEFAULT_TG43_COMMAND_SETTINGS,
    method: str | None = None,
) -> list[dict[str, Any]]:
    """Dose rate (cGy/h) and permanent-implant total dose (Gy, to infinity) at each point, in input order.

    One object per point with the keys :data:`TG43_KEYS` (numbers of :func:`tg43_rates`).
    """
    rate, total_gy = tg43_rates(model, seeds, points_cm, formalism, settings, method)
    return _point_dicts(points_cm, rate, total_gy)


def _point_dicts(points_cm: FloatArray, rate: FloatArray, total_gy: FloatArray) -> list[dict[str, Any]]:
    return [
        {"point_cm": point, "dose_rate_cgy_per_h": r, "total_dose_gy": d}
        for point, r, d in zip(points_cm.tolist(), rate.tolist(), total_gy.tolist(), strict=True)
    ]


#: One line of the ``tg43`` output as :func:`to_json` prints it (json.dumps writes a float as its repr).
_TG43_LINE: Final[str] = '  {"point_cm": [%s, %s, %s], "dose_rate_cgy_per_h": %r, "total_dose_gy": %r}'
_TG43_LINE_TEXT: Final[str] = '  {"point_cm": [%s], "dose_rate_cgy_per_h": %r, "total_dose_gy": %r}'


def tg43_json(
    points_cm: FloatArray, rate: FloatArray, total_gy: FloatArray, point_texts: Sequence[str] | None = None
) -> str:
    """``to_json(tg43_point_doses(...))`` without one dict per point: the same text, character for character.

    ``point_texts`` (from :func:`canonical_points_cm`) are the points as ``json.dumps`` prints them
    (``"x, y, z"``); without them each distinct coordinate (bit for bit, so -0.0 stays -0.0) is formatted once.
    """
    n = points_cm.shape[0]
    if n == 0 or not (np.all(np.isfinite(rate)) and np.all(np.isfinite(total_gy))):
        return to_json(_point_dicts(points_cm, rate, total_gy))
    args: list[Any] = [None] * (n * (3 if point_texts is not None else 5))
    if point_texts is not None:
        args[0::3] = point_texts
        args[1::3] = rate.tolist()
        args[2::3] = total_gy.tolist()
        template = _TG43_LINE_TEXT
    else:
        bits = np.ascontiguousarray(points_cm, dtype=np.float64).view(np.int64)
        uniq, inverse = np.unique(bits, return_inverse=True)
        texts = np.array([repr(v) for v in uniq.view(np.float64).tolist()], dtype=object)
        coords = texts[inverse.reshape(n, 3)]
        for k in range(3):
            args[k::5] = coords[:, k].tolist()
        args[3::5] = rate.tolist()
        args[4::5] = total_gy.tolist()
        template = _TG43_LINE
    return "".join(("[\n", ",\n".join([template] * n) % tuple(args), "\n]"))


class Tg43Options(TypedDict, total=False):
    """Keyword options of :func:`run_tg43` / :func:`run_tg43_json` (the command's options)."""

    seeds_file: str | os.PathLike[str] | None  # seeds JSON; exactly one of seeds_file / rtplan_file
    rtplan_file: str | os.PathLike[str] | None  # DICOM RT Plan
    formalism: str  # "line" (default) or "point"
    settings: Tg43CommandSettings  # default DEFAULT_TG43_COMMAND_SETTINGS
    method: str | None  # None = settings.engine; "exact" or "table" (TG43_METHODS)


def _tg43_inputs(
    model_code: str, points_file: str | os.PathLike[str], options: Tg43Options
) -> tuple[SeedModelData, SeedSet, tg43.Formalism, FloatArray, list[str] | None]:
    seeds_file, rtplan_file = options.get("seeds_file"), options.get("rtplan_file")
    settings = options.get("settings", DEFAULT_TG43_COMMAND_SETTINGS)
    if (seeds_file is None) == (rtplan_file is None):
        raise CliInputError("--rtplan / --seeds: give exactly one of them (they are mutually exclusive)")
    model = _model(model_code)
    form = _formalism(options.get("formalism", "line"))
    if seeds_file is not None:
        seeds = parse_seeds(read_json_file(seeds_file, "--seeds"), origin=f"--seeds {Path(seeds_file).name}",
                            settings=settings)
    else:
        assert rtplan_file is not None
        seeds = seeds_from_rtplan(rtplan_file, settings)
    points, texts = read_points_file(points_file, field_name=f"--points {Path(points_file).name}")
    return model, seeds, form, points, texts


def run_tg43(
    model_code: str, points_file: str | os.PathLike[str], **options: Unpack[Tg43Options]
) -> list[dict[str, Any]]:
    """The ``tg43`` command: exactly one of ``seeds_file`` (JSON) / ``rtplan_file`` (DICOM) plus a points JSON.

    Returns ``[{"point_cm": [x, y, z], "dose_rate_cgy_per_h": r, "total_dose_gy": d}, …]`` in point order.
    Options: :class:`Tg43Options`.
    """
    model, seeds, form, points, _ = _tg43_inputs(model_code, points_file, options)
    settings = options.get("settings", DEFAULT_TG43_COMMAND_SETTINGS)
    return tg43_point_doses(model, seeds, points, form, settings, options.get("method"))


def run_tg43_json(model_code: str, points_file: str | os.PathLike[str], **options: Unpack[Tg43Options]) -> str:
    """``to_json(run_tg43(...))``, the command's output, built without one Python object per point."""
    model, seeds, form, points, texts = _tg43_inputs(model_code, points_file, options)
    settings = options.get("settings", DEFAULT_TG43_COMMAND_SETTINGS)
    rate, total_gy = tg43_rates(model, seeds, points, form, settings, options.get("method"))
    return tg43_json(points, rate, total_gy, texts)


# ---------------------------------------------------------------------------------------------------------------
# dvh
# ---------------------------------------------------------------------------------------------------------------


def _selected_structures(rtss: RtStructureSet, names: Sequence[str]) -> list[Structure]:
    if names:
        rois = [rtss.get(name) for name in names]  # case-insensitive; DicomImportError lists the names
        for roi in rois:
            if not roi.contours:
                raise CliInputError(
                    f"--structure {roi.name!r}: {rtss.file_name} has no closed planar contours for this ROI"
                )
    else:
        rois = [roi for roi in rtss.rois if roi.contours]
        if not rois:
            raise CliInputError(f"--rtstruct {rtss.file_name}: no ROI has closed planar contours")
    return [Structure(name=roi.name if roi.name.strip() else f"ROI {roi.number}", contours=roi.contours) for roi in rois]


def dvh_summaries(
    grid: DoseGrid,
    structures: Sequence[Structure],
    prescription_gy: float,
    settings: DvhCommandSettings = DEFAULT_DVH_COMMAND_SETTINGS,
) -> list[dict[str, Any]]:
    """DVH summary (keys :data:`DVH_KEYS`, in order) of each structure on ``grid``; NaN (e.g. HI when V100 = 0)
    becomes None. Engine errors become :class:`CliInputError`."""
    rx = _finite_number(prescription_gy, "--prescription-gy", "a finite dose > 0 Gy")
    if rx <= 0:
        raise CliInputError(f"--prescription-gy={rx!r}: must be a finite dose > 0 Gy")
    out = []
    for structure in structures:
        try:
            s = summary(structure, grid, rx, settings=settings.sampling, include_conformity=False)
        except ContourOutsideGridError as exc:
            raise CliInputError(f"{exc} (command line: --clip-to-grid)") from exc
        except DVHError as exc:
            raise CliInputError(str(exc)) from exc
        out.append(json_ready({key: s[key] for key in DVH_KEYS}))
    return out


def run_dvh(
    rtdose_file: str | os.PathLike[str],
    rtstruct_file: str | os.PathLike[str],
    prescription_gy: float,
    structure_names: Sequence[str] = (),
    settings: DvhCommandSettings = DEFAULT_DVH_COMMAND_SETTINGS,
) -> list[dict[str, Any]]:
    """The ``dvh`` command: read both files, check their FrameOfReferenceUID agree, summarise the structures.

    ``structure_names`` empty → every ROI with closed planar contours, in file order; otherwise exactly those
    (case-insensitive), in the given order. Returns one dict per structure with the keys :data:`DVH_KEYS`.
    """
    try:
        dose = read_rtdose(os.fspath(rtdose_file))
        rtss = read_rtstruct(os.fspath(rtstruct_file))
        check_same_frame_of_reference(dose, rtss)
        structures = _selected_structures(rtss, structure_names)
    except DicomImportError as exc:
        raise CliInputError(str(exc)) from exc
    try:
        grid = DoseGrid(dose_gy=dose.dose_gy, x_cm=dose.x_cm, y_cm=dose.y_cm, z_cm=dose.z_cm)
    except DVHError as exc:
        raise CliInputError(f"--rtdose: {dose.file_name}: {exc}") from exc
    return dvh_summaries(grid, structures, prescription_gy, settings)
