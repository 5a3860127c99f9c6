"""TG-43U1 consensus data for ¹²⁵I seed models (data only, no Django).

Every table here comes from ``/work/shared/reference/dosimetry.md`` §2, which cross-checked the
AAPM TG-43U1 consensus datasets (Rivard et al., Med. Phys. 31(3), 633–674, 2004) between independent public
implementations. Units are in the field names:

* ``*_cm``: centimetres; ``*_deg``: degrees; ``half_life_days``: days;
* ``dose_rate_constant_cgy_per_h_per_u``: Λ in cGy·h⁻¹·U⁻¹ (1 U = 1 µGy·m²·h⁻¹ = 1 cGy·cm²·h⁻¹);
* ``radial_gl``: line-source radial dose function g_L(r), dimensionless, at ``radial_r_cm``;
* ``aniso_F``: 2-D anisotropy function F(r, θ), dimensionless, indexed ``aniso_F[i_theta][i_r]`` at
  ``aniso_theta_deg`` × ``aniso_r_cm``;
* ``phi_an``: 1-D anisotropy function φ_an(r), dimensionless, at ``phi_an_r_cm``.

The registry :data:`SEED_MODELS` is meant to be loaded into a database catalogue table with
:meth:`SeedModelData.to_dict`. Use :func:`get_seed_model` to look a model up by its short code.

Seed models deliberately left out (reference §2.2):

* **Best Medical 2301**: the reference marks its active length (0.40 cm vs 0.375 cm) UNCONFIRMED and gives no
  φ_an(r); a second public source settling both could not be found, so the 1-D formalism could not be
  supported for it and it is not registered.
* **Theragenics AgX100**: not checked by the reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields, replace
from typing import Any

from common.errors import InputError

__all__ = [
    "SEED_MODELS",
    "SeedDataError",
    "SeedModelData",
    "UnknownSeedModelError",
    "get_seed_model",
    "known_seed_codes",
    "seed_model_from_dict",
]


class SeedDataError(InputError):
    """A seed data table is malformed (wrong shape, unsorted radii, non-positive value...)."""


class UnknownSeedModelError(InputError):
    """The requested seed model code is not in :data:`SEED_MODELS`."""


def _check_axis(name: str, values: tuple[float, ...], *, code: str, min_len: int = 2) -> None:
    if len(values) < min_len:
        raise SeedDataError(f"seed {code!r}: {name} has {len(values)} entries; at least {min_len} are required")
    if any(not math.isfinite(v) for v in values):
        raise SeedDataError(f"seed {code!r}: {name} contains a non-finite value: {values!r}")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise SeedDataError(f"seed {code!r}: {name} must be strictly increasing, got {values!r}")


@dataclass(frozen=True)
class SeedModelData:
    """TG-43U1 dataset of one seed model.

    Attributes:
        code: short catalogue code, e.g. ``"6711"`` (matched case-insensitively by :func:`get_seed_model`).
        name: human-readable model name.
        manufacturer: manufacturer name.
        isotope: radionuclide, e.g. ``"I-125"``.
        half_life_days: physical half-life T½ in days used for decay and total dose.
        active_length_cm: effective active length L (cm) used in the line-source geometry function G_L.
        dose_rate_constant_cgy_per_h_per_u: dose-rate constant Λ (cGy·h⁻¹·U⁻¹).
        radial_r_cm: radii (cm) of the g_L(r) table, strictly increasing.
        radial_gl: line-source radial dose function g_L(r) at ``radial_r_cm`` (dimensionless).
        aniso_r_cm: radii (cm) of the F(r, θ) table, strictly increasing.
        aniso_theta_deg: polar angles (deg) of the F(r, θ) table, strictly increasing within [0, 90].
        aniso_F: F(r, θ) as a tuple of rows, one row per angle: ``aniso_F[i_theta][i_r]``.
        phi_an_r_cm: radii (cm) of the φ_an(r) table, strictly increasing.
        phi_an: 1-D anisotropy function φ_an(r) at ``phi_an_r_cm`` (dimensionless).
        notes: free text: provenance, caveats, differences from TG-43U1.
        confirmation: how far each number is confirmed (tags of the project reference: C1/C2/calc/UNCONFIRMED).
    """

    code: str
    name: str
    manufacturer: str
    isotope: str
    half_life_days: float
    active_length_cm: float
    dose_rate_constant_cgy_per_h_per_u: float
    radial_r_cm: tuple[float, ...]
    radial_gl: tuple[float, ...]
    aniso_r_cm: tuple[float, ...]
    aniso_theta_deg: tuple[float, ...]
    aniso_F: tuple[tuple[float, ...], ...]
    phi_an_r_cm: tuple[float, ...]
    phi_an: tuple[float, ...]
    notes: str = ""
    confirmation: str = ""

    def __post_init__(self) -> None:
        code = self.code
        if not code or code.strip() != code:
            raise SeedDataError(f"seed code must be a non-empty string without surrounding blanks, got {code!r}")
        for fname in ("half_life_days", "active_length_cm", "dose_rate_constant_cgy_per_h_per_u"):
            value = getattr(self, fname)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise SeedDataError(f"seed {code!r}: {fname} must be a finite number > 0, got {value!r}")
        _check_axis("radial_r_cm", self.radial_r_cm, code=code)
        _check_axis("aniso_r_cm", self.aniso_r_cm, code=code)
        _check_axis("aniso_theta_deg", self.aniso_theta_deg, code=code)
        _check_axis("phi_an_r_cm", self.phi_an_r_cm, code=code, min_len=1)
        if self.radial_r_cm[0] <= 0:
            raise SeedDataError(f"seed {code!r}: radial_r_cm must start above 0 cm, got {self.radial_r_cm[0]!r}")
        if self.aniso_theta_deg[0] != 0.0 or self.aniso_theta_deg[-1] != 90.0:
            raise SeedDataError(
                f"seed {code!r}: aniso_theta_deg must run from 0 to 90 deg, got {self.aniso_theta_deg!r}"
            )
        if len(self.radial_gl) != len(self.radial_r_cm):
            raise SeedDataError(
                f"seed {code!r}: radial_gl has {len(self.radial_gl)} values for {len(self.radial_r_cm)} radii"
            )
        if len(self.phi_an) != len(self.phi_an_r_cm):
            raise SeedDataError(
                f"seed {code!r}: phi_an has {len(self.phi_an)} values for {len(self.phi_an_r_cm)} radii"
            )
        if len(self.aniso_F) != len(self.aniso_theta_deg) or any(
            len(row) != len(self.aniso_r_cm) for row in self.aniso_F
        ):
            raise SeedDataError(
                f"seed {code!r}: aniso_F must have {len(self.aniso_theta_deg)} rows of {len(self.aniso_r_cm)} values"
            )
        for tname, values in (
            ("radial_gl", self.radial_gl),
            ("phi_an", self.phi_an),
            ("aniso_F", tuple(v for row in self.aniso_F for v in row)),
        ):
            if any(not (math.isfinite(v) and v > 0) for v in values):
                raise SeedDataError(f"seed {code!r}: every {tname} value must be finite and > 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists) for a catalogue table or fixture."""
        data = asdict(self)

        def _listify(value: Any) -> Any:
            if isinstance(value, tuple | list):
                return [_listify(v) for v in value]
            return value

        return {key: _listify(value) for key, value in data.items()}


def _tuplify(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_tuplify(v) for v in value)
    return value


def seed_model_from_dict(data: Mapping[str, Any]) -> SeedModelData:
    """The inverse of :meth:`SeedModelData.to_dict`: a dataset from its plain dict (lists become tuples), e.g. the
    ``data`` column of the catalogue table.

    Raises:
        SeedDataError: ``data`` is not a dict, lacks a required key or has a key that is no field (the message
            names the key); the tables themselves are checked as by the constructor.
    """
    if not isinstance(data, Mapping):
        raise SeedDataError(f"seed data must be a dict of TG-43U1 fields, got {type(data).__name__}")
    code = data.get("code", "?")
    known = {f.name: f for f in fields(SeedModelData)}
    for key in data:
        if key not in known:
            raise SeedDataError(f"seed {code!r}: {key!r} is not a seed data field; known: {', '.join(known)}")
    for name, f in known.items():
        if name not in data and f.default is MISSING:
            raise SeedDataError(f"seed {code!r}: {name!r} is missing")
    return SeedModelData(**{key: _tuplify(value) for key, value in data.items()})


# --------------------------------------------------------------------------------------------------------------
# Oncura / Amersham (now GE) model 6711 "OncoSeed": reference §2.1
# --------------------------------------------------------------------------------------------------------------
_R_6711: tuple[float, ...] = (0.10, 0.15, 0.25, 0.50, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
_GL_6711: tuple[float, ...] = (
    1.055, 1.078, 1.082, 1.071, 1.042, 1.000, 0.908, 0.814, 0.632, 0.496, 0.364, 0.270, 0.199, 0.148, 0.109, 0.0803,
)
_F_R_6711: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
_F_THETA_6711: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)
_F_6711: tuple[tuple[float, ...], ...] = (
    (0.333, 0.370, 0.442, 0.488, 0.520, 0.550),  # 0°
    (0.400, 0.429, 0.497, 0.535, 0.561, 0.587),  # 5°
    (0.519, 0.537, 0.580, 0.609, 0.630, 0.645),  # 10°
    (0.716, 0.705, 0.727, 0.743, 0.752, 0.760),  # 20°
    (0.846, 0.834, 0.842, 0.846, 0.848, 0.852),  # 30°
    (0.926, 0.925, 0.926, 0.926, 0.928, 0.928),  # 40°
    (0.972, 0.972, 0.970, 0.969, 0.969, 0.969),  # 50°
    (0.991, 0.991, 0.987, 0.987, 0.987, 0.987),  # 60°
    (0.996, 0.996, 0.996, 0.995, 0.995, 0.995),  # 70°
    (1.000, 1.000, 1.000, 0.999, 0.999, 0.999),  # 80°
    (1.000, 1.000, 1.000, 1.000, 1.000, 1.000),  # 90°
)
_PHI_R_6711: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
_PHI_6711: tuple[float, ...] = (0.973, 0.944, 0.941, 0.942, 0.943, 0.944)

#: TG-43U1 half-life of ¹²⁵I (days), reference §3.2 [C2].
I125_HALF_LIFE_TG43U1_DAYS: float = 59.40
#: Half-life stated by the project's seed paper (days), reference §3.2: UNCONFIRMED against a second source.
I125_HALF_LIFE_STUDY_PAPER_DAYS: float = 59.6

MODEL_6711 = SeedModelData(
    code="6711",
    name="OncoSeed model 6711",
    manufacturer="Oncura / Amersham (GE Healthcare)",
    isotope="I-125",
    half_life_days=I125_HALF_LIFE_TG43U1_DAYS,
    active_length_cm=0.3,
    dose_rate_constant_cgy_per_h_per_u=0.965,
    radial_r_cm=_R_6711,
    radial_gl=_GL_6711,
    aniso_r_cm=_F_R_6711,
    aniso_theta_deg=_F_THETA_6711,
    aniso_F=_F_6711,
    phi_an_r_cm=_PHI_R_6711,
    phi_an=_PHI_6711,
    notes=(
        "TG-43U1 consensus dataset (Rivard et al. 2004). L = 0.3 cm is the TG-43 effective active length "
        "(the physical silver rod is 0.28 cm). Λ = 0.965 cGy/h/U; the older NIST-99/TG-43 (1995) value 0.98 is "
        "not used. φ_an(r) and F(r, θ) are tabulated for r = 0.5–5 cm only (no 7 cm column in the sources). "
        "Half-life 59.40 d is the TG-43U1 value."
    ),
    confirmation=(
        "Λ, g_L, F, φ_an: C2 (two or more independent public implementations agree); L: C1; T½ 59.40 d: C2. "
        "Source: /work/shared/reference/dosimetry.md §2.1, §3.2."
    ),
)

MODEL_STUDY_45TI = replace(
    MODEL_6711,
    code="STUDY-4.5TI",
    name="Study ¹²⁵I seed, titanium capsule 4.5 × 0.8 mm (14.8–29.6 MBq)",
    manufacturer="as stated in the study's seed paper",
    half_life_days=I125_HALF_LIFE_STUDY_PAPER_DAYS,
    notes=(
        "The study's 4.5 × 0.8 mm titanium-encapsulated ¹²⁵I seed (apparent activity 14.8–29.6 MBq) has no TG-43U1 "
        "consensus dataset of its own: it USES THE MODEL 6711 DATASET (L, Λ, g_L, F, φ_an copied from code '6711'). "
        "Half-life 59.6 d is the seed paper's value; TG-43U1 gives 59.40 d (the 6711 entry keeps 59.40 d). The "
        "difference changes the permanent-implant total dose by +0.34 %."
    ),
    confirmation=(
        "Tables: as model 6711 (C2, see that entry). Use of the 6711 data for this seed: project decision. "
        "T½ = 59.6 d: UNCONFIRMED (single source, the seed paper)."
    ),
)

#: Registry of seed models keyed by upper-case short code.
SEED_MODELS: dict[str, SeedModelData] = {m.code.upper(): m for m in (MODEL_6711, MODEL_STUDY_45TI)}


def known_seed_codes() -> tuple[str, ...]:
    """Short codes of all registered seed models, sorted."""
    return tuple(sorted(m.code for m in SEED_MODELS.values()))


def get_seed_model(code: str) -> SeedModelData:
    """Return the dataset registered under ``code`` (case-insensitive, surrounding blanks ignored).

    Raises:
        UnknownSeedModelError: ``code`` is not a string or names no registered model; the message lists the
            known codes.
    """
    if not isinstance(code, str):
        raise UnknownSeedModelError(
            f"seed model code must be a string, got {code!r}; known codes: {', '.join(known_seed_codes())}"
        )
    try:
        return SEED_MODELS[code.strip().upper()]
    except KeyError:
        raise UnknownSeedModelError(
            f"unknown seed model code {code!r}; known codes: {', '.join(known_seed_codes())}"
        ) from None
