"""MD Anderson (MDA) bone-metastasis response criteria (pure core, no Django).

Reference: ``/work/shared/reference/clinical-rules.md`` §5 (Hamaoka et al., J Clin Oncol 2004; Costelloe et al.,
J Cancer 2010). The qualitative findings per modality are verified in the reference; the **quantitative SPD
thresholds (PR ≥ 50 % decrease, PD ≥ 25 % increase in the sum of products of perpendicular diameters) are marked
"from memory" there and could not be confirmed by a second source** (the secondary table found, PMC3863546
Table 1, gives 50 % / 25 % only in its WHO column; its MDA column says "regression" / "no change"). They are
therefore settings (:class:`MdaSettings`) and every reason that uses them says they are unconfirmed.

Precedence: PD > CR > PR > SD; no usable finding → NE. Skeletal-scintigraphy (SS) progression (new lesion or
increased activity) counts only once flare has been excluded; otherwise it is flagged and not called PD.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from common.errors import InputError

RULE_SET = "MDA-2004"
UNCONFIRMED_NOTE = "SPD thresholds from memory of Costelloe 2010, unconfirmed"
FLAG_POSSIBLE_FLARE = "possible bone-scan flare — exclude flare before calling PD"
FLAG_SS_REGRESSION = "regression on bone scan only — confirm with anatomic imaging"
FLAG_EARLY_SD = "SD before 8 weeks — bone responds slowly (WHO rule)"


class MdaError(InputError):
    """Invalid MDA input; the message names the field, the value and what is allowed."""


class BoneModality(StrEnum):
    XR = "xr"  # radiograph
    CT = "ct"
    MRI = "mri"
    SS = "ss"  # skeletal scintigraphy


class MdaResponse(StrEnum):
    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"
    NE = "NE"


class BoneFinding(StrEnum):
    # CR findings
    LYTIC_COMPLETE_FILL_IN = (
        "lytic_complete_fill_in"  # complete fill-in or sclerosis of lytic lesions (XR/CT)
    )
    BLASTIC_NORMALISED = "blastic_normalised"  # normalisation of osteoblastic lesions (XR/CT)
    MRI_SIGNAL_NORMALISED = "mri_signal_normalised"  # normalisation of signal intensity (MRI)
    SS_UPTAKE_NORMALISED = "ss_uptake_normalised"  # normalisation of tracer uptake (SS)
    # PR findings
    SCLEROTIC_RIM = "sclerotic_rim"  # sclerotic rim around an initially lytic lesion (XR/CT)
    SCLEROSIS_OF_UNSEEN_LESIONS = (
        "sclerosis_of_unseen_lesions"  # sclerosis of lesions not seen before (XR/CT)
    )
    LYTIC_PARTIAL_FILL_IN = "lytic_partial_fill_in"  # partial fill-in / sclerosis of lytic lesions (XR/CT)
    MEASURABLE_REGRESSION = "measurable_regression"  # regression of measurable lesions (XR/CT/MRI)
    BLASTIC_DECREASE = "blastic_decrease"  # decrease in blastic lesions (XR/CT)
    SS_REGRESSION = "ss_regression"  # regression on SS
    # SD finding
    NO_CHANGE = "no_change"
    # PD findings
    MEASURABLE_INCREASE = "measurable_increase"  # increase in size of existing measurable lesions (XR/CT/MRI)
    ILL_DEFINED_INCREASE = "ill_defined_increase"  # increase in size of ill-defined lesions (XR/CT/MRI)
    NEW_BONE_LESION = "new_bone_lesion"  # any new bone metastasis (SS: after excluding flare)
    SS_INCREASED_ACTIVITY = "ss_increased_activity"  # increased activity on SS (after excluding flare)


_ANATOMIC = frozenset({BoneModality.XR, BoneModality.CT})
_ALL = frozenset(BoneModality)
_ALLOWED: dict[BoneFinding, frozenset[BoneModality]] = {
    BoneFinding.LYTIC_COMPLETE_FILL_IN: _ANATOMIC,
    BoneFinding.BLASTIC_NORMALISED: _ANATOMIC,
    BoneFinding.MRI_SIGNAL_NORMALISED: frozenset({BoneModality.MRI}),
    BoneFinding.SS_UPTAKE_NORMALISED: frozenset({BoneModality.SS}),
    BoneFinding.SCLEROTIC_RIM: _ANATOMIC,
    BoneFinding.SCLEROSIS_OF_UNSEEN_LESIONS: _ANATOMIC,
    BoneFinding.LYTIC_PARTIAL_FILL_IN: _ANATOMIC,
    BoneFinding.MEASURABLE_REGRESSION: _ANATOMIC | {BoneModality.MRI},
    BoneFinding.BLASTIC_DECREASE: _ANATOMIC,
    BoneFinding.SS_REGRESSION: frozenset({BoneModality.SS}),
    BoneFinding.NO_CHANGE: _ALL,
    BoneFinding.MEASURABLE_INCREASE: _ANATOMIC | {BoneModality.MRI},
    BoneFinding.ILL_DEFINED_INCREASE: _ANATOMIC | {BoneModality.MRI},
    BoneFinding.NEW_BONE_LESION: _ALL,
    BoneFinding.SS_INCREASED_ACTIVITY: frozenset({BoneModality.SS}),
}
_CR = {
    BoneFinding.LYTIC_COMPLETE_FILL_IN,
    BoneFinding.BLASTIC_NORMALISED,
    BoneFinding.MRI_SIGNAL_NORMALISED,
    BoneFinding.SS_UPTAKE_NORMALISED,
}
_PR = {
    BoneFinding.SCLEROTIC_RIM,
    BoneFinding.SCLEROSIS_OF_UNSEEN_LESIONS,
    BoneFinding.LYTIC_PARTIAL_FILL_IN,
    BoneFinding.MEASURABLE_REGRESSION,
    BoneFinding.BLASTIC_DECREASE,
    BoneFinding.SS_REGRESSION,
}
_PD_ANATOMIC = {BoneFinding.MEASURABLE_INCREASE, BoneFinding.ILL_DEFINED_INCREASE}
_PD_FLARE_SENSITIVE = {BoneFinding.SS_INCREASED_ACTIVITY}


@dataclass(frozen=True)
class MdaSettings:
    """SPD thresholds in % (UNCONFIRMED defaults, see module docstring) and the WHO 8-week SD note (days)."""

    pr_decrease_pct: int = 50
    pd_increase_pct: int = 25
    sd_min_days: int = 56

    def __post_init__(self) -> None:
        if (
            isinstance(self.pr_decrease_pct, bool)
            or not isinstance(self.pr_decrease_pct, int)
            or not (0 < self.pr_decrease_pct < 100)
        ):
            raise MdaError(
                f"settings.pr_decrease_pct: {self.pr_decrease_pct!r} is not allowed (allowed: integer 1–99)"
            )
        if (
            isinstance(self.pd_increase_pct, bool)
            or not isinstance(self.pd_increase_pct, int)
            or self.pd_increase_pct <= 0
        ):
            raise MdaError(
                f"settings.pd_increase_pct: {self.pd_increase_pct!r} is not allowed (allowed: integer > 0)"
            )
        if (
            isinstance(self.sd_min_days, bool)
            or not isinstance(self.sd_min_days, int)
            or self.sd_min_days < 0
        ):
            raise MdaError(
                f"settings.sd_min_days: {self.sd_min_days!r} is not allowed (allowed: integer ≥ 0)"
            )


@dataclass(frozen=True)
class MdaResult:
    """MDA category with a one-line reason and review flags; ``spd_change_pct`` exact (None without SPD)."""

    response: MdaResponse
    reason: str
    flags: tuple[str, ...]
    spd_change_pct: Fraction | None
    rule_set: str = RULE_SET


def _exact_area(value: float, name: str, *, allow_zero: bool) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction | Decimal):
        raise MdaError(f"{name}: {value!r} is not a number (allowed: a finite area in mm²)", field=name, value=value,
                       allowed="a finite area in mm²")
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        raise MdaError(f"{name}: {value!r} is not finite (allowed: a finite area in mm²)", field=name, value=value,
                       allowed="a finite area in mm²")
    exact = Fraction(Decimal(repr(value))) if isinstance(value, float) else Fraction(value)
    if exact < 0 or (exact == 0 and not allow_zero):
        allowed = "≥ 0" if allow_zero else "> 0"
        raise MdaError(f"{name}: {value!r} is not allowed (allowed: an area {allowed} mm²)", field=name, value=value,
                       allowed=f"an area {allowed} mm²")
    return exact


def _pct_text(x: Fraction) -> str:
    value = float(x)
    return f"{value:+.1f}%".replace("-", "−")


def mda_bone_response(
    modality: BoneModality | str,
    findings: Collection[BoneFinding | str] = (),
    *,
    baseline_spd_mm2: float | None = None,
    current_spd_mm2: float | None = None,
    days_since_start: int | None = None,
    flare_excluded: bool = False,
    settings: MdaSettings | None = None,
) -> MdaResult:
    """Classify one bone assessment with the MDA criteria (§5.2).

    ``findings`` are qualitative observations valid for ``modality`` (a finding from another modality raises
    :class:`MdaError`). ``baseline_spd_mm2`` / ``current_spd_mm2`` (sum of products of perpendicular diameters,
    mm², both or neither) apply the SPD thresholds of ``settings`` with exact arithmetic and inclusive
    boundaries. ``days_since_start`` only adds a flag when SD is assigned before ``settings.sd_min_days``.
    """
    s = settings or MdaSettings()
    try:
        mod = BoneModality(modality)
    except ValueError:
        raise MdaError(f"modality: {modality!r} is not allowed (allowed: xr, ct, mri, ss)", field="modality",
                       value=modality, allowed="xr, ct, mri, ss") from None
    found: set[BoneFinding] = set()
    for item in findings:
        try:
            f = BoneFinding(item)
        except ValueError:
            raise MdaError(
                f"findings: {item!r} is not a known finding (allowed: {', '.join(BoneFinding)})"
            ) from None
        if mod not in _ALLOWED[f]:
            allowed = ", ".join(sorted(m.value for m in _ALLOWED[f]))
            raise MdaError(
                f"findings: {f.value!r} is not assessable on {mod.value} (allowed modalities: {allowed})"
            )
        found.add(f)
    if not isinstance(flare_excluded, bool):
        raise MdaError(f"flare_excluded: {flare_excluded!r} is not allowed (allowed: true or false)",
                       field="flare_excluded", value=flare_excluded, allowed="true or false")
    if days_since_start is not None and (
        isinstance(days_since_start, bool) or not isinstance(days_since_start, int)
    ):
        raise MdaError(f"days_since_start: {days_since_start!r} is not allowed (allowed: an integer or None)")

    spd_change: Fraction | None = None
    spd_pd = spd_pr = False
    if (baseline_spd_mm2 is None) != (current_spd_mm2 is None):
        raise MdaError("baseline_spd_mm2 / current_spd_mm2: give both or neither")
    if baseline_spd_mm2 is not None and current_spd_mm2 is not None:
        if mod is BoneModality.SS:
            raise MdaError("baseline_spd_mm2: SPD is measured on xr, ct or mri, not on ss")
        base = _exact_area(baseline_spd_mm2, "baseline_spd_mm2", allow_zero=False)
        cur = _exact_area(current_spd_mm2, "current_spd_mm2", allow_zero=True)
        spd_change = (cur - base) * 100 / base
        spd_pd = cur * 100 >= base * (100 + s.pd_increase_pct)
        spd_pr = cur * 100 <= base * (100 - s.pr_decrease_pct)
    spd_text = (
        ""
        if spd_change is None
        else f"SPD {_fmt_area(current_spd_mm2)} vs {_fmt_area(baseline_spd_mm2)} mm² ({_pct_text(spd_change)})"
    )
    note = f" [{UNCONFIRMED_NOTE}]"

    flags: list[str] = []
    pd_causes = [f.value for f in sorted(found & _PD_ANATOMIC)]
    flare_sensitive = found & _PD_FLARE_SENSITIVE
    if BoneFinding.NEW_BONE_LESION in found and mod is BoneModality.SS:
        flare_sensitive = flare_sensitive | {BoneFinding.NEW_BONE_LESION}
    elif BoneFinding.NEW_BONE_LESION in found:
        pd_causes.append(BoneFinding.NEW_BONE_LESION.value)
    if flare_sensitive:
        if flare_excluded:
            pd_causes.extend(f.value for f in sorted(flare_sensitive))
        else:
            flags.append(f"{FLAG_POSSIBLE_FLARE}: {', '.join(f.value for f in sorted(flare_sensitive))}")
    if spd_pd:
        pd_causes.append(f"{spd_text} ≥ +{s.pd_increase_pct}%{note}")
    if pd_causes:
        return MdaResult(
            MdaResponse.PD, f"PD: {'; '.join(pd_causes)} on {mod.value}", tuple(flags), spd_change
        )

    cr_found = found & _CR
    pr_found = found & _PR
    if BoneFinding.SS_REGRESSION in pr_found:
        flags.append(FLAG_SS_REGRESSION)
    residual = spd_change is not None and current_spd_mm2 != 0
    if cr_found and not pr_found and BoneFinding.NO_CHANGE not in found and not residual:
        return MdaResult(
            MdaResponse.CR,
            f"CR: {', '.join(f.value for f in sorted(cr_found))} on {mod.value}",
            tuple(flags),
            spd_change,
        )
    if pr_found or spd_pr or cr_found:
        causes = [f.value for f in sorted(pr_found | cr_found)]
        if spd_pr:
            causes.append(f"{spd_text} ≤ −{s.pr_decrease_pct}%{note}")
        if cr_found and (residual or pr_found or BoneFinding.NO_CHANGE in found):
            causes.append("complete-response findings with residual disease")
        return MdaResult(MdaResponse.PR, f"PR: {'; '.join(causes)} on {mod.value}", tuple(flags), spd_change)
    if BoneFinding.NO_CHANGE in found or spd_change is not None:
        parts = []
        if BoneFinding.NO_CHANGE in found:
            parts.append("no change")
        if spd_change is not None:
            parts.append(
                f"{spd_text} between −{s.pr_decrease_pct}% and +{s.pd_increase_pct}% (exclusive){note}"
            )
        if days_since_start is not None and days_since_start < s.sd_min_days:
            flags.append(f"{FLAG_EARLY_SD}: day {days_since_start} < {s.sd_min_days}")
        return MdaResult(
            MdaResponse.SD,
            f"SD: {'; '.join(parts)} on {mod.value}; no new bone lesion",
            tuple(flags),
            spd_change,
        )
    reason = "NE: no assessable finding"
    if flags:
        reason = f"NE: findings on {mod.value} need flare excluded before they can count"
    return MdaResult(MdaResponse.NE, reason, tuple(flags), spd_change)


def _fmt_area(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:g}"
