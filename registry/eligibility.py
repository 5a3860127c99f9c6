"""Eligibility for CT-guided ¹²⁵I seed implantation (pure core, rule set ``SEEDTRACK-ELIG-1``).

Reference: ``clinical-rules.md`` §8 (defaults from §8.2, KPS from §8.3), §2.2 (RAIR), §6.3 (TgAb cut-off).

Every criterion evaluates to ``pass`` / ``fail`` / ``missing`` with a plain-words message that carries the value,
its unit and the threshold ("Platelets 88 ×10⁹/L — needs > 100"). Overall status: any fail → ``not_eligible``;
otherwise any missing → ``incomplete``; otherwise ``eligible``.

Values must already be in the canonical units named by the fields (convert with :func:`registry.units.convert`
first: Hb 9.5 g/dL → 95 g/L). Threshold comparisons use decimal arithmetic on the entered numbers (§0.1), so
ALT 120 U/L with ULN 40 is exactly 3 × ULN.

Design decisions (all thresholds are fields of :class:`EligibilityThresholds`)
-------------------------------------------------------------------------------
* **Lab window**: one ``labs_date`` covers WBC, Hb, platelets, PTA, ALT and AST. Labs more than
  ``labs_window_days`` (14) days before the reference date (planned implant date, else the assessment date) are
  ``missing`` ("older than 14 days"); 14 days exactly is inside. Labs dated *after* the reference date are
  ``missing`` too (they are not pre-implant labs). TgAb has no date field and is not windowed.
* **Last ¹³¹I course**: completed calendar months (``registry.iodine.whole_months_between``) from the last course to
  the reference date, ≥ 6.
* **Cumulative ¹³¹I**: strict "> 22.2 GBq" as an inclusion criterion (from the project brief). Set
  ``cumulative_iodine_min_gbq=None`` to drop this criterion for a protocol that does not require it.
* **TgAb**: "negative" = value strictly below the assay's own cut-off (equal to the cut-off is positive). Missing
  cut-off → ``missing``. With ``require_tgab_negative=False`` the criterion is left out of the result.
* **RAIR status** "undetermined" → ``missing`` (more data may settle it); "not_refractory" → ``fail``.
* **ECG** "abnormal_significant" → fail; "normal" and "abnormal_not_significant" → pass.
* **KPS** must be 0–100 in steps of 10 (KPS 75 is an input error, not a fail).
* **Implausible values are refused** (:func:`check_plausible`, :data:`PLAUSIBLE_RANGES`) when the facts are built,
  so that e.g. platelets entered as 100000 (per µL instead of ×10⁹/L) never reach the evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from common.errors import InputError
from registry.iodine import whole_months_between
from registry.units import format_number

__all__ = [
    "ECG_VALUES",
    "KINDS",
    "OUTCOMES",
    "PLAUSIBLE_RANGES",
    "RAIR_STATUS_VALUES",
    "RULE_SET",
    "STATUSES",
    "CriterionResult",
    "EligibilityFacts",
    "EligibilityInputError",
    "EligibilityResult",
    "EligibilityThresholds",
    "check_plausible",
    "evaluate_eligibility",
    "validate_kps",
]

RULE_SET = "SEEDTRACK-ELIG-1"
STATUSES: tuple[str, ...] = ("eligible", "not_eligible", "incomplete")
OUTCOMES: tuple[str, ...] = ("pass", "fail", "missing")
KINDS: tuple[str, ...] = ("inclusion", "exclusion", "lab")
ECG_VALUES: tuple[str, ...] = ("normal", "abnormal_not_significant", "abnormal_significant")
RAIR_STATUS_VALUES: tuple[str, ...] = ("refractory", "not_refractory", "undetermined")


class EligibilityInputError(InputError):
    """Invalid eligibility input (implausible value, KPS not a multiple of 10, unknown setting …).

    Attributes: ``field`` (the facts/threshold field name), ``value`` and ``allowed`` (human-readable).
    """

    def __init__(self, field: str, value: object, allowed: str, message: str | None = None) -> None:
        super().__init__(message or f"{field} {value!r} is not allowed; allowed: {allowed}", field=field, value=value,
                         allowed=allowed)


# --------------------------------------------------------------------------------------------------------------
# Plausibility
# --------------------------------------------------------------------------------------------------------------

PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "wbc_e9_per_l": (0, 500),
    "hemoglobin_g_per_l": (20, 250),
    "platelets_e9_per_l": (0, 2000),
    "pta_pct": (0, 150),
    "alt_u_per_l": (0, 10000),
    "ast_u_per_l": (0, 10000),
    "alt_uln_u_per_l": (1, 500),
    "ast_uln_u_per_l": (1, 500),
    "tgab_iu_per_ml": (0, 100000),
    "tgab_cutoff_iu_per_ml": (0, 100000),
    "cumulative_iodine_gbq": (0, 200),
    # Not EligibilityFacts fields, but checked by the registry models with the same function:
    "uln_u_per_l": (1, 500),
    "tg_ug_per_l": (0, 1_000_000),
}
"""Field → inclusive (low, high) plausible range in the field's canonical unit (facts field names, plus a generic
``uln_u_per_l`` and ``tg_ug_per_l``)."""

_DISPLAY: dict[str, tuple[str, str]] = {
    "wbc_e9_per_l": ("WBC", "×10⁹/L"),
    "hemoglobin_g_per_l": ("Haemoglobin", "g/L"),
    "platelets_e9_per_l": ("Platelets", "×10⁹/L"),
    "pta_pct": ("PTA", "%"),
    "alt_u_per_l": ("ALT", "U/L"),
    "ast_u_per_l": ("AST", "U/L"),
    "alt_uln_u_per_l": ("ALT ULN", "U/L"),
    "ast_uln_u_per_l": ("AST ULN", "U/L"),
    "tgab_iu_per_ml": ("TgAb", "IU/mL"),
    "tgab_cutoff_iu_per_ml": ("TgAb cut-off", "IU/mL"),
    "cumulative_iodine_gbq": ("Cumulative ¹³¹I", "GBq"),
    "uln_u_per_l": ("ULN", "U/L"),
    "tg_ug_per_l": ("Tg", "µg/L"),
}

# Short analyte names (as in registry.units) accepted by check_plausible as aliases of the facts field names.
_ALIASES: dict[str, str] = {
    "wbc": "wbc_e9_per_l",
    "hemoglobin": "hemoglobin_g_per_l",
    "platelets": "platelets_e9_per_l",
    "pta": "pta_pct",
    "alt": "alt_u_per_l",
    "ast": "ast_u_per_l",
    "tgab": "tgab_iu_per_ml",
    "uln": "uln_u_per_l",
    "tg": "tg_ug_per_l",
}


def _with_unit(number: str, unit: str) -> str:
    return f"{number} {unit}" if unit else number


def check_plausible(field: str, value: float) -> None:
    """Raise :class:`EligibilityInputError` if ``value`` is not a finite number inside ``PLAUSIBLE_RANGES[field]``.

    ``field`` is a key of ``PLAUSIBLE_RANGES`` ("platelets_e9_per_l") or a short analyte name: wbc, hemoglobin,
    platelets, pta, alt, ast, uln, tgab, tg.
    Message example: "Platelets 10000 ×10⁹/L is outside the plausible range 0–2000 ×10⁹/L".
    """
    key = _ALIASES.get(field, field)
    if key not in PLAUSIBLE_RANGES:
        raise EligibilityInputError(
            "field", field, ", ".join(PLAUSIBLE_RANGES), f"No plausible range is defined for {field!r}"
        )
    name, unit = _DISPLAY[key]
    low, high = PLAUSIBLE_RANGES[key]
    allowed = f"{format_number(low)}–{_with_unit(format_number(high), unit)}"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EligibilityInputError(key, value, allowed, f"{name} {value!r} is not a finite number")
    if not low <= value <= high:
        raise EligibilityInputError(
            key, value, allowed,
            f"{name} {_with_unit(format_number(value), unit)} is outside the plausible range {allowed}",
        )


def validate_kps(kps: int) -> None:
    """Raise :class:`EligibilityInputError` unless ``kps`` is an integer 0–100 in steps of 10 (§8.3)."""
    if isinstance(kps, bool) or not isinstance(kps, int) or not 0 <= kps <= 100 or kps % 10:
        raise EligibilityInputError(
            "kps", kps, "0, 10, 20 … 100",
            f"KPS {kps!r} is not a Karnofsky score; use 0–100 in steps of 10",
        )


# --------------------------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EligibilityThresholds:
    """Protocol thresholds (defaults: §8.2 and the project brief). Operators are fixed; values configurable.

    * ``wbc_min_e9_per_l`` (≥), ``hemoglobin_min_g_per_l`` (≥), ``platelets_min_e9_per_l`` (strict >),
      ``pta_min_pct`` (strict >), ``alt_max_x_uln`` / ``ast_max_x_uln`` (≤ × ULN), ``kps_min`` (≥)
    * ``labs_window_days``: labs at most this many days before the reference date
    * ``cumulative_iodine_min_gbq`` (strict >; ``None`` = criterion not used)
    * ``months_since_last_iodine_min`` (≥, completed calendar months)
    * ``require_tgab_negative``: TgAb below the assay cut-off required
    """

    wbc_min_e9_per_l: float = 3.5
    hemoglobin_min_g_per_l: float = 90
    platelets_min_e9_per_l: float = 100
    pta_min_pct: float = 40
    alt_max_x_uln: float = 3
    ast_max_x_uln: float = 3
    kps_min: int = 70
    labs_window_days: int = 14
    cumulative_iodine_min_gbq: float | None = 22.2
    months_since_last_iodine_min: int = 6
    require_tgab_negative: bool = True

    def __post_init__(self) -> None:
        for name in ("wbc_min_e9_per_l", "hemoglobin_min_g_per_l", "platelets_min_e9_per_l", "pta_min_pct",
                     "alt_max_x_uln", "ast_max_x_uln", "cumulative_iodine_min_gbq"):
            value = getattr(self, name)
            if value is None and name == "cumulative_iodine_min_gbq":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise EligibilityInputError(name, value, "a finite number ≥ 0")
        for name in ("kps_min", "labs_window_days", "months_since_last_iodine_min"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise EligibilityInputError(name, value, "a whole number ≥ 0")
        if not isinstance(self.require_tgab_negative, bool):
            raise EligibilityInputError("require_tgab_negative", self.require_tgab_negative, "True or False")

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> EligibilityThresholds:
        """Build thresholds from a settings dict (keys = field names; absent keys keep their defaults).

        An unknown key raises :class:`EligibilityInputError` naming it; values are validated as in the
        constructor.
        """
        known = [f.name for f in fields(cls)]
        for key in settings:
            if key not in known:
                raise EligibilityInputError(
                    str(key), settings[key], ", ".join(known),
                    f"Unknown eligibility setting {key!r}; known settings: {', '.join(known)}",
                )
        return cls(**dict(settings))


# --------------------------------------------------------------------------------------------------------------
# Facts and results
# --------------------------------------------------------------------------------------------------------------

_BOOL_FACTS: tuple[str, ...] = (
    "thyroidectomy", "prior_iodine", "biopsy_proven_metastasis", "lesion_without_iodine_uptake",
    "severe_cardiopulmonary_insufficiency", "severe_hepatic_insufficiency", "severe_renal_insufficiency",
    "severe_coagulopathy", "cachexia", "concurrent_radio_or_chemotherapy", "immunotherapy",
)


_RANGED_FACTS: tuple[str, ...] = (
    "wbc_e9_per_l", "hemoglobin_g_per_l", "platelets_e9_per_l", "pta_pct", "alt_u_per_l", "alt_uln_u_per_l",
    "ast_u_per_l", "ast_uln_u_per_l", "tgab_iu_per_ml", "tgab_cutoff_iu_per_ml", "cumulative_iodine_gbq",
)


@dataclass(frozen=True)
class EligibilityFacts:
    """Recorded facts for one eligibility assessment. ``None`` always means "not recorded".

    Lab values are in canonical units: WBC and platelets ×10⁹/L, haemoglobin g/L, PTA %, ALT/AST and their upper
    limits of normal U/L, TgAb and its assay cut-off IU/mL, cumulative ¹³¹I GBq. ``reference_date`` is the planned
    implant date (defaults to ``assessment_date``). Exclusion booleans: True = present (fail).
    Construction validates plausibility, KPS, ECG and RAIR values and raises :class:`EligibilityInputError`.
    """

    assessment_date: date
    reference_date: date | None = None
    labs_date: date | None = None
    wbc_e9_per_l: float | None = None
    hemoglobin_g_per_l: float | None = None
    platelets_e9_per_l: float | None = None
    pta_pct: float | None = None
    alt_u_per_l: float | None = None
    alt_uln_u_per_l: float | None = None
    ast_u_per_l: float | None = None
    ast_uln_u_per_l: float | None = None
    ecg: str | None = None
    kps: int | None = None
    tgab_iu_per_ml: float | None = None
    tgab_cutoff_iu_per_ml: float | None = None
    # inclusion facts
    thyroidectomy: bool | None = None
    prior_iodine: bool | None = None
    biopsy_proven_metastasis: bool | None = None
    lesion_without_iodine_uptake: bool | None = None
    rair_status: str | None = None
    cumulative_iodine_gbq: float | None = None
    last_iodine_date: date | None = None
    # exclusion facts (True -> fail)
    severe_cardiopulmonary_insufficiency: bool | None = None
    severe_hepatic_insufficiency: bool | None = None
    severe_renal_insufficiency: bool | None = None
    severe_coagulopathy: bool | None = None
    cachexia: bool | None = None
    concurrent_radio_or_chemotherapy: bool | None = None
    immunotherapy: bool | None = None

    def __post_init__(self) -> None:
        for name in ("assessment_date", "reference_date", "labs_date", "last_iodine_date"):
            value = getattr(self, name)
            if value is None and name != "assessment_date":
                continue
            # datetime is a date subclass; a datetime here would make day arithmetic ambiguous.
            if not isinstance(value, date) or isinstance(value, datetime):
                raise EligibilityInputError(name, value, "a date")
        for name in _RANGED_FACTS:
            value = getattr(self, name)
            if value is not None:
                check_plausible(name, value)
        if self.kps is not None:
            validate_kps(self.kps)
        if self.ecg is not None and self.ecg not in ECG_VALUES:
            raise EligibilityInputError("ecg", self.ecg, ", ".join(ECG_VALUES))
        if self.rair_status is not None and self.rair_status not in RAIR_STATUS_VALUES:
            raise EligibilityInputError("rair_status", self.rair_status, ", ".join(RAIR_STATUS_VALUES))
        for name in _BOOL_FACTS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise EligibilityInputError(name, value, "True, False or None")
        if self.last_iodine_date is not None and self.last_iodine_date > self.effective_reference_date:
            raise EligibilityInputError(
                "last_iodine_date", self.last_iodine_date,
                f"a date on or before {self.effective_reference_date.isoformat()}",
                f"Last ¹³¹I course date {self.last_iodine_date.isoformat()} is after the reference date "
                f"{self.effective_reference_date.isoformat()}",
            )

    @property
    def effective_reference_date(self) -> date:
        """The date the criteria are evaluated for: ``reference_date`` if given, else ``assessment_date``."""
        return self.reference_date if self.reference_date is not None else self.assessment_date


@dataclass(frozen=True)
class CriterionResult:
    """One evaluated criterion: ``key`` (stable identifier), ``label``, ``kind`` ("inclusion" | "exclusion" |
    "lab"), ``outcome`` ("pass" | "fail" | "missing") and a plain-words ``message``."""

    key: str
    label: str
    kind: str
    outcome: str
    message: str


@dataclass(frozen=True)
class EligibilityResult:
    """Overall ``status`` ("eligible" | "not_eligible" | "incomplete"), every criterion, and the rule set."""

    status: str
    criteria: tuple[CriterionResult, ...]
    reference_date: date
    thresholds: EligibilityThresholds
    rule_set: str = RULE_SET

    @property
    def failed(self) -> tuple[CriterionResult, ...]:
        """Criteria with outcome "fail"."""
        return tuple(c for c in self.criteria if c.outcome == "fail")

    @property
    def missing(self) -> tuple[CriterionResult, ...]:
        """Criteria with outcome "missing"."""
        return tuple(c for c in self.criteria if c.outcome == "missing")

    def criterion(self, key: str) -> CriterionResult:
        """The criterion with this key (KeyError if it was not evaluated)."""
        for item in self.criteria:
            if item.key == key:
                return item
        raise KeyError(key)


# --------------------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------------------


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value))) if not isinstance(value, int) else Decimal(value)


def _num(value: float, unit: str = "") -> str:
    return _with_unit(format_number(value), unit)


def _outcome(ok: bool) -> str:
    return "pass" if ok else "fail"


def _format_ratio(ratio: Decimal, limit: Decimal, passes: bool) -> str:
    """Ratio to one decimal ("3.0"), with more decimals when one decimal would misstate the outcome."""
    for places in range(1, 5):
        shown = round(ratio, places)
        if (shown <= limit) == passes:
            return f"{shown:.{places}f}"
    return format(ratio.normalize(), "f")


class _Evaluator:
    def __init__(self, facts: EligibilityFacts, thresholds: EligibilityThresholds) -> None:
        self.facts = facts
        self.t = thresholds
        self.reference = facts.effective_reference_date
        self.items: list[CriterionResult] = []
        self.labs_problem = self._labs_problem()

    def add(self, key: str, label: str, kind: str, outcome: str, message: str) -> None:
        self.items.append(CriterionResult(key=key, label=label, kind=kind, outcome=outcome, message=message))

    # -- helpers ------------------------------------------------------------------------------------------------
    def _labs_problem(self) -> str | None:
        labs_date = self.facts.labs_date
        window = self.t.labs_window_days
        if labs_date is None:
            return "lab date not recorded"
        age_days = (self.reference - labs_date).days
        if age_days < 0:
            return f"dated {labs_date.isoformat()}, after the reference date {self.reference.isoformat()}"
        if age_days > window:
            return (f"dated {labs_date.isoformat()}, older than {window} days "
                    f"({age_days} days before {self.reference.isoformat()})")
        return None

    def boolean(self, key: str, label: str, kind: str, value: bool | None, *, good: bool,
                yes: str, no: str) -> None:
        if value is None:
            self.add(key, label, kind, "missing", f"{label} not recorded")
        else:
            self.add(key, label, kind, _outcome(value is good), yes if value else no)

    def lab_min(self, key: str, name: str, value: float | None, unit: str, threshold: float, *,
                strict: bool) -> None:
        op = ">" if strict else "≥"
        if value is None:
            self.add(key, name, "lab", "missing", f"{name} not recorded")
            return
        shown = f"{name} {_num(value, unit)}"
        if self.labs_problem is not None:
            self.add(key, name, "lab", "missing", f"{shown} — {self.labs_problem}")
            return
        ok = _dec(value) > _dec(threshold) if strict else _dec(value) >= _dec(threshold)
        self.add(key, name, "lab", _outcome(ok), f"{shown} — needs {op} {format_number(threshold)}")

    def lab_uln(self, key: str, name: str, value: float | None, uln: float | None, max_x_uln: float) -> None:
        if value is None:
            self.add(key, name, "lab", "missing", f"{name} not recorded")
            return
        shown = f"{name} {_num(value, 'U/L')}"
        if uln is None:
            self.add(key, name, "lab", "missing", f"{shown} — upper limit of normal (ULN) not recorded")
            return
        if self.labs_problem is not None:
            self.add(key, name, "lab", "missing", f"{shown} — {self.labs_problem}")
            return
        ok = _dec(value) <= _dec(max_x_uln) * _dec(uln)
        ratio = _format_ratio(_dec(value) / _dec(uln), _dec(max_x_uln), ok)
        self.add(key, name, "lab", _outcome(ok),
                 f"{shown} = {ratio} × ULN {format_number(uln)} — needs ≤ {format_number(max_x_uln)} × ULN")

    # -- criteria -----------------------------------------------------------------------------------------------
    def inclusion(self) -> None:
        f, t = self.facts, self.t
        self.boolean("thyroidectomy", "Total thyroidectomy", "inclusion", f.thyroidectomy, good=True,
                     yes="Total thyroidectomy done", no="No total thyroidectomy — needs total thyroidectomy")
        self.boolean("prior_iodine", "Prior ¹³¹I therapy", "inclusion", f.prior_iodine, good=True,
                     yes="Prior ¹³¹I therapy given", no="No prior ¹³¹I therapy — needs prior ¹³¹I therapy")
        self.boolean("biopsy_proven_metastasis", "Biopsy-proven metastasis", "inclusion",
                     f.biopsy_proven_metastasis, good=True, yes="Metastasis proven by biopsy",
                     no="Metastasis not proven by biopsy — needs pathological proof")
        self.boolean("lesion_without_iodine_uptake", "Target lesion without ¹³¹I uptake", "inclusion",
                     f.lesion_without_iodine_uptake, good=True, yes="Target lesion does not take up ¹³¹I",
                     no="Target lesion takes up ¹³¹I — needs a lesion without uptake")

        label = "RAI-refractory (ATA 2015)"
        if f.rair_status is None:
            self.add("rair_status", label, "inclusion", "missing", "RAIR status not recorded")
        elif f.rair_status == "refractory":
            self.add("rair_status", label, "inclusion", "pass", "RAIR status refractory")
        elif f.rair_status == "not_refractory":
            self.add("rair_status", label, "inclusion", "fail", "RAIR status not refractory — needs refractory")
        else:
            self.add("rair_status", label, "inclusion", "missing", "RAIR status undetermined — needs refractory")

        if t.cumulative_iodine_min_gbq is not None:
            label = "Cumulative ¹³¹I activity"
            limit = t.cumulative_iodine_min_gbq
            if f.cumulative_iodine_gbq is None:
                self.add("cumulative_iodine", label, "inclusion", "missing", "Cumulative ¹³¹I not recorded")
            else:
                ok = _dec(f.cumulative_iodine_gbq) > _dec(limit)
                self.add("cumulative_iodine", label, "inclusion", _outcome(ok),
                         f"Cumulative ¹³¹I {_num(f.cumulative_iodine_gbq, 'GBq')} — needs > {format_number(limit)}")

        label = "Time since last ¹³¹I course"
        if f.last_iodine_date is None:
            self.add("last_iodine", label, "inclusion", "missing", "Last ¹³¹I course date not recorded")
        else:
            months = whole_months_between(f.last_iodine_date, self.reference)
            unit = "month" if months == 1 else "months"
            ok = months >= t.months_since_last_iodine_min
            self.add("last_iodine", label, "inclusion", _outcome(ok),
                     f"Last ¹³¹I course {months} {unit} before — needs ≥ {t.months_since_last_iodine_min}")

        if f.kps is None:
            self.add("kps", "Karnofsky performance status", "inclusion", "missing", "KPS not recorded")
        else:
            self.add("kps", "Karnofsky performance status", "inclusion", _outcome(f.kps >= t.kps_min),
                     f"KPS {f.kps} — needs ≥ {t.kps_min}")

    def labs(self) -> None:
        f, t = self.facts, self.t
        self.lab_min("wbc", "WBC", f.wbc_e9_per_l, "×10⁹/L", t.wbc_min_e9_per_l, strict=False)
        self.lab_min("hemoglobin", "Haemoglobin", f.hemoglobin_g_per_l, "g/L", t.hemoglobin_min_g_per_l,
                     strict=False)
        self.lab_min("platelets", "Platelets", f.platelets_e9_per_l, "×10⁹/L", t.platelets_min_e9_per_l,
                     strict=True)
        self.lab_min("pta", "PTA", f.pta_pct, "%", t.pta_min_pct, strict=True)
        self.lab_uln("alt", "ALT", f.alt_u_per_l, f.alt_uln_u_per_l, t.alt_max_x_uln)
        self.lab_uln("ast", "AST", f.ast_u_per_l, f.ast_uln_u_per_l, t.ast_max_x_uln)

        if t.require_tgab_negative:
            if f.tgab_iu_per_ml is None:
                self.add("tgab", "TgAb negative", "lab", "missing", "TgAb not recorded")
            elif f.tgab_cutoff_iu_per_ml is None:
                self.add("tgab", "TgAb negative", "lab", "missing",
                         f"TgAb {_num(f.tgab_iu_per_ml, 'IU/mL')} — assay cut-off not recorded")
            else:
                ok = _dec(f.tgab_iu_per_ml) < _dec(f.tgab_cutoff_iu_per_ml)
                self.add("tgab", "TgAb negative", "lab", _outcome(ok),
                         f"TgAb {_num(f.tgab_iu_per_ml, 'IU/mL')} — needs < "
                         f"{format_number(f.tgab_cutoff_iu_per_ml)} (assay cut-off)")

    def exclusion(self) -> None:
        f = self.facts
        label = "No significant ECG abnormality"
        if f.ecg is None:
            self.add("ecg", label, "exclusion", "missing", "ECG not recorded")
        elif f.ecg == "normal":
            self.add("ecg", label, "exclusion", "pass", "ECG normal")
        elif f.ecg == "abnormal_not_significant":
            self.add("ecg", label, "exclusion", "pass", "ECG abnormal, not clinically significant")
        else:
            self.add("ecg", label, "exclusion", "fail", "ECG abnormality clinically significant — excludes")

        for key, label in (
            ("severe_cardiopulmonary_insufficiency", "Severe cardiopulmonary insufficiency"),
            ("severe_hepatic_insufficiency", "Severe hepatic insufficiency"),
            ("severe_renal_insufficiency", "Severe renal insufficiency"),
            ("severe_coagulopathy", "Severe coagulopathy"),
            ("cachexia", "Cachexia"),
            ("concurrent_radio_or_chemotherapy", "Concurrent radiotherapy or chemotherapy"),
            ("immunotherapy", "Immunotherapy"),
        ):
            self.boolean(key, label, "exclusion", getattr(f, key), good=False,
                         yes=f"{label} present — excludes", no=f"No {label[0].lower()}{label[1:]}")


def evaluate_eligibility(
    facts: EligibilityFacts, thresholds: EligibilityThresholds = EligibilityThresholds()  # noqa: B008
) -> EligibilityResult:
    """Evaluate every criterion of §8.2 (see the module docstring) and the overall status.

    Criteria come in a fixed order: inclusion, labs, exclusion. Keys: thyroidectomy, prior_iodine,
    biopsy_proven_metastasis, lesion_without_iodine_uptake, rair_status, cumulative_iodine, last_iodine, kps,
    wbc, hemoglobin, platelets, pta, alt, ast, tgab, ecg and the seven exclusion fact names.
    """
    if not isinstance(facts, EligibilityFacts):
        raise EligibilityInputError("facts", facts, "an EligibilityFacts instance")
    evaluator = _Evaluator(facts, thresholds)
    evaluator.inclusion()
    evaluator.labs()
    evaluator.exclusion()
    outcomes = {item.outcome for item in evaluator.items}
    if "fail" in outcomes:
        status = "not_eligible"
    elif "missing" in outcomes:
        status = "incomplete"
    else:
        status = "eligible"
    return EligibilityResult(status=status, criteria=tuple(evaluator.items), reference_date=evaluator.reference,
                             thresholds=thresholds)
