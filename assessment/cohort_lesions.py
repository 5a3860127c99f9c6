"""The per-lesion ("modified RECIST (per lesion)") view of a loaded cohort: every N counts lesions.

In ``per_lesion`` mode (protocol ``recist.mode`` or the cohort filter's ``mode``) every table and figure counts the
same unit, the lesion, and says "modified RECIST (per lesion)" (clinical reference §1.3 [DESIGN DECISION]
lesion-level mode, §11.6). :func:`lesion_units` turns the stored per-lesion results of
:class:`~assessment.cohort_data.PatientRecord` into one :class:`LesionUnit` per followed lesion; the lesion's best
overall response comes from the RECIST core (``recist.best_overall_response`` on the stored per-lesion visit
categories, which already carry the reappearance-after-CR rules). Patient facts (sex, histology, age, Tg, distant
metastasis) are given to each of the patient's lesions; Tg itself is a patient-level measure and is not summarised
per lesion (Table 2 says so).

A pure core: plain data in, plain data out (no Django, no queries). :mod:`assessment.cohort_tables` calls
:func:`bor_summaries`, :func:`table2` and :func:`table3` in per-lesion mode, :mod:`assessment.dashboard` uses
:func:`lesion_units`. The RECIST settings are the protocol's, loaded with the cohort (``Cohort.lesion_settings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import assessment.cohort_data as co
import assessment.recist as recist
from assessment.stats import PairedTest, mean_sd

LABEL = co.MODE_LABELS["per_lesion"]  # "modified RECIST (per lesion)"


@dataclass(frozen=True)
class LesionUnit:
    """One followed lesion of one patient with its per-lesion results (days from the index implant)."""

    name: str  # "<study id> <lesion label>"
    patient: co.PatientRecord
    label: str
    baseline_size_mm: float | None
    baseline_volume_cm3: float | None
    responses: tuple[co.LesionResponse, ...]  # post-baseline, date order, with a computed response
    best_change_pct: float | None  # lowest % change of the lesion's size from baseline before a new therapy
    bor_unconfirmed: str
    bor_confirmed: str
    first_pd_day: int | None

    def at(self, timepoint: str) -> co.LesionResponse | None:
        """The lesion's result at the patient's visit of this time point (None: no visit / not assessed)."""
        v = self.patient.visit_at(timepoint)
        if v is None:
            return None
        return next((lr for lr in self.all_rows if lr.visit_date == v.visit_date), None)

    @property
    def all_rows(self) -> tuple[co.LesionResponse, ...]:
        return tuple(lr for lr in self.patient.lesion_responses if lr.lesion_label == self.label)


def _bor(r: co.PatientRecord, rows: list[co.LesionResponse], confirmed: bool,
         s: recist.RecistSettings) -> str:
    points = [recist.BorPoint(lr.visit_date, lr.day, recist.Response(lr.response)) for lr in rows]
    therapy = None if r.new_therapy_day is None else r.implant_date + timedelta(days=r.new_therapy_day)
    try:
        return recist.best_overall_response(points, s, confirmed=confirmed, new_therapy_date=therapy,
                                            cr_rules_applied=True).response.value
    except (recist.RecistError, ValueError):
        return ""


def lesion_units(c: co.Cohort, settings: recist.RecistSettings | None = None) -> list[LesionUnit]:
    """One unit per followed lesion (a lesion with a per-lesion result or a baseline size), patients in order.

    ``settings``: the RECIST settings of the best responses; default the cohort's (the protocol's, loaded with it), else
    RECIST 1.1 defaults in per-lesion mode."""
    settings = settings or c.lesion_settings or recist.RecistSettings(mode=recist.Mode.PER_LESION)
    units = []
    for r in c.patients:
        base_visit = r.baseline
        labels = list(dict.fromkeys(
            lr.lesion_label for lr in r.lesion_responses
            if lr.response or (base_visit is not None and lr.visit_date == base_visit.visit_date
                               and lr.size_mm is not None)))
        for label in labels:
            rows = [lr for lr in r.lesion_responses if lr.lesion_label == label]
            base = next((lr for lr in rows if base_visit is not None and lr.visit_date == base_visit.visit_date),
                        None)
            post = sorted((lr for lr in rows if lr.response and (base is None or lr.visit_date > base.visit_date)),
                          key=lambda lr: lr.visit_date)
            counted = [lr for lr in post if not r.after_new_therapy(lr.day)]
            changes = [(lr.size_mm - base.size_mm) * 100 / base.size_mm for lr in counted
                       if base is not None and base.size_mm and lr.size_mm is not None]
            pd_days = [lr.day for lr in counted if lr.response == "PD"]
            units.append(LesionUnit(
                f"{r.study_id} {label}", r, label, base.size_mm if base else None,
                base.volume_cm3 if base else None, tuple(post), round(min(changes), 2) if changes else None,
                _bor(r, post, False, settings), _bor(r, post, True, settings), min(pd_days) if pd_days else None))
    return units


def bor_summaries(c: co.Cohort, units: list[LesionUnit] | None = None) -> tuple[co.BorSummary, ...]:
    """Table 1's best overall response rows counted per lesion (lesions without a follow-up result listed)."""
    units = lesion_units(c) if units is None else units
    out = []
    for kind in ("unconfirmed", "confirmed"):
        values = [getattr(u, f"bor_{kind}") for u in units]
        counts = co._counts([v for v in values if v])
        remission, orr = co._rates(c, counts)
        out.append(co.BorSummary(kind, counts.total, counts, remission, orr,
                                 tuple(u.name for u, v in zip(units, values, strict=True) if not v)))
    return tuple(out)


def table2(c: co.Cohort) -> co.Table2:
    """Table 2 per lesion: each lesion's ellipsoid volume (paired t-test vs its baseline); Tg is left out."""
    units = lesion_units(c)
    base = [u.baseline_volume_cm3 for u in units]
    rows = []
    for tp, label in (("baseline", "Baseline"), *co.TIMEPOINTS):
        vols = []
        for u in units:
            lr = u.at(tp)
            ok = lr is not None and (tp == "baseline" or not u.patient.after_new_therapy(lr.day))
            vols.append(lr.volume_cm3 if ok and lr is not None else None)
        if tp == "baseline":
            vols = base
        present = [v for v in vols if v is not None]
        mean = sd = None
        text = f"n = {len(present)} lesions: mean ± SD needs at least 2 values"
        if len(present) >= 2:
            mean, sd = mean_sd(present)
            text = f"{mean:.2f} ± {sd:.2f}"
        forced = auto = None
        note = ""
        if tp != "baseline":
            forced, auto, note = co._paired(base, vols, PairedTest.PAIRED_T)
        rows.append(co.VolumeRow(tp, label, len(present), mean, sd, text, forced, auto, note))
    notes = (
        f"Unit: lesion; {LABEL} (rule set {recist.RULE_SET_PER_LESION}): every N counts lesions.",
        "Volume: the ellipsoid volume (π/6·a·b·c) of each followed lesion, cm³; mean ± sample SD; vs baseline on "
        "complete lesion pairs with the paired t-test, forced as the study did; 'auto' is the test chosen from the "
        "normality of the differences. Lesions of one patient are not independent.",
        f"Tg is a patient-level measure and is not summarised per lesion: see the RECIST 1.1 (per patient) report. "
        f"({LABEL})",
    )
    return co.Table2(recist.RULE_SET_PER_LESION, "lesion", tuple(rows), (), "weibull (type 6)", notes)


def table3(c: co.Cohort) -> co.Table3:
    """Table 3 per lesion: 12-month lesion response effective (CR+PR+SD) vs ineffective (PD) by factor; patient
    factors are given to each of the patient's lesions, baseline volume is the lesion's own."""
    units = lesion_units(c)
    included: list[tuple[LesionUnit, bool]] = []
    ne, missing, after = [], [], []
    for u in units:
        lr = u.at("m12")
        if lr is None or not lr.response:
            missing.append(u.name)
        elif u.patient.after_new_therapy(lr.day):
            after.append(u.name)
        elif lr.response == "NE":
            ne.append(u.name)
        else:
            included.append((u, lr.response != "PD"))
    eff = [e for _, e in included]
    us = [u for u, _ in included]
    rs = [u.patient for u in us]
    rows = [
        co._factor("Sex", "Male", "Female", [r.sex == co.SEX_MALE for r in rs], eff),
        co._factor("Histology", "Papillary", "Other", [r.histology == co.HISTOLOGY_PAPILLARY for r in rs], eff),
        co._factor("Age at implant", f"≤ {co.AGE_CUT_YEARS} years", f"> {co.AGE_CUT_YEARS} years",
                   [r.age_at_implant <= co.AGE_CUT_YEARS for r in rs], eff),
    ]
    rows.append(co._median_split(
        "Baseline Tg (of the lesion's patient)", [co._tg(u.patient, "baseline") for u in units],
        [co._tg(r, "baseline") for r in rs], eff, level=lambda cut: f"{cut:g} ng/mL", missing_note="no baseline Tg",
        note=lambda mi: f"median baseline Tg over the lesions {mi.median.format()} ng/mL (n = {mi.n} lesions)"))
    rows.append(co._median_split(
        "Baseline lesion volume", [u.baseline_volume_cm3 for u in units], [u.baseline_volume_cm3 for u in us], eff,
        level=lambda cut: f"{cut:.2f} cm³", missing_note="no baseline volume",
        note=lambda mi: f"median baseline lesion volume {mi.median.value:.2f} cm³ (n = {mi.n} lesions)"))
    rows.append(co._factor("Enhancement (patient)", "Yes", "No", [r.enhancement_at_baseline for r in rs], eff))
    rows.append(co._factor("Distant metastasis (patient)", "Yes", "No", [r.distant_metastasis for r in rs], eff))
    notes = (
        f"Unit: lesion; {LABEL} (rule set {recist.RULE_SET_PER_LESION}): 12-month lesion response, effective = "
        "CR+PR+SD, ineffective = PD; NE, no 12-month result, or a 12-month visit after new therapy are excluded "
        "and listed.",
        "Patient factors (sex, histology, age, baseline Tg, enhancement, distant metastasis) are given to each of "
        "the patient's lesions; lesions of one patient are not independent, so the tests are descriptive.",
        "Test per 2×2 table as in the per-patient analysis (χ² / Yates / Fisher chosen by n and expected counts).",
    )
    return co.Table3("m12", recist.RULE_SET_PER_LESION, "lesion", "effective (CR+PR+SD) vs ineffective (PD)",
                     len(included), tuple(ne), tuple(missing), tuple(after), tuple(rows), notes)
