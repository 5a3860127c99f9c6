"""Tables 1–4 and the flow diagram of the index study, from a loaded :class:`~assessment.cohort_data.Cohort`
(a pure core: plain data in, plain dataclasses out; no Django, no queries).

The loader (:mod:`assessment.cohort`) builds the cohort; the dashboard, the ``cohort_report`` command
(:mod:`assessment.cohort_formats`) and a future PDF call these functions, so they all print the same numbers. Every
table says which unit (patient or lesion) and which rule set it counts; in per-lesion mode Tables 1–3 count lesions
(:mod:`assessment.cohort_lesions`).

Choices made here (each is also stated in the output's notes):

* N = patients (lesions in per-lesion mode) with a computed category at the time point, NE included; patients
  without the visit are listed as "not assessed"; visits after a new anticancer therapy are left out and listed
  (RECIST §1.9); visits outside their protocol window are listed, and counted only when the protocol says so.
* Non-CR/Non-PD (non-target disease only) is counted with SD. Remission follows the protocol's
  ``followup.remission_definition`` ("dcr" = CR+PR+SD, "orr" = CR+PR); ORR (CR+PR) is always given too.
  Proportions carry Wilson 95 % CIs.
* Table 2 forces the paired t-test for volumes and the Wilcoxon signed-rank test for Tg, as the study did, and
  also gives the test the normality of the differences would choose; each follow-up row is the patients paired at
  that time point, beside their own baseline.
* Table 3 is 12-month CR/PR/SD (effective) vs PD by factor, the 2×2 test chosen by n and expected counts.
* Table 4 pairs the pre-plan and the post-implant plan of record of each index implant (GTV, else PTV; loaded by
  ``dosimetry.selectors.pre_post_pairs``): mean ± SD, the paired test chosen from the normality of the differences,
  and how many post-implant D90 fall below the prescription.
* The flow counts registered → eligible (latest eligibility) → implanted → evaluable at 2 / 6 / 12 months with the
  reason for every patient missing at a step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assessment.cohort_data import (
    AGE_CUT_YEARS,
    COMPLETED,
    DIED,
    ELIGIBILITY_LABELS,
    ELIGIBLE,
    HISTOLOGY_PAPILLARY,
    LEFT_FOLLOW_UP,
    LOST,
    MODE_LABELS,
    REMISSION,
    SEX_MALE,
    TIMEPOINTS,
    WITHDRAWN,
    BorSummary,
    Cohort,
    CohortColumns,
    PairedResult,
    PlanPair,
    Table1,
    Table1Row,
    Table2,
    Table3,
    Table4,
    Table4Row,
    TgRow,
    VolumeRow,
    _counts,
    _factor,
    _mean_sd_text,
    _median_split,
    _outside_window,
    _paired,
    _quantity,
    _rates,
    _window_rule,
    evaluable,
    paired,
)
from assessment.cohort_lesions import bor_summaries as lesion_bor_summaries
from assessment.cohort_lesions import table2 as lesion_table2
from assessment.cohort_lesions import table3 as lesion_table3
from assessment.recist import RULE_SET_PER_LESION
from assessment.schedule import BASELINE
from assessment.stats import PairedTest, StatsInputError, mean_sd, median_iqr, paired_compare

# --- Table 1: response per time point ----------------------------------------------------------------------------


def _timepoint_patients(c: Cohort, timepoint: str) -> tuple[list[str], list[str], list[str]]:
    responses, missing, after = [], [], []
    k = c.columns
    overall, day = k.visits.overall, k.visits.day
    for i, (sid, v, outside) in enumerate(zip(k.study_id, k.visit_at(timepoint), k.outside_window(timepoint),
                                              strict=True)):
        if v < 0 and outside:
            continue  # listed with the visits outside their window
        if v < 0 or not overall[v]:
            missing.append(sid)
        elif k.after_new_therapy(i, day[v]):
            after.append(sid)
        else:
            responses.append(overall[v])
    return responses, missing, after


def _timepoint_lesions(c: Cohort, timepoint: str) -> tuple[list[str], list[str], list[str]]:
    responses, missing, after = [], [], []
    for r in c.patients:
        labels = list(dict.fromkeys(lr.lesion_label for lr in r.lesion_responses
                                    if lr.response or (lr.timepoint == BASELINE and lr.size_mm is not None)))
        v = r.visit_at(timepoint)
        if v is None and r.outside_window(timepoint):
            continue  # listed with the visits outside their window
        at = {lr.lesion_label: lr for lr in r.lesion_responses if v is not None and lr.visit_date == v.visit_date}
        for label in labels:
            name = f"{r.study_id} {label}"
            lr = at.get(label)
            if lr is None or not lr.response:
                missing.append(name)
            elif r.after_new_therapy(lr.day):
                after.append(name)
            else:
                responses.append(lr.response)
    return responses, missing, after


def table1(c: Cohort) -> Table1:
    """CR/PR/SD/PD/NE at 2, 6 and 12 months with remission rate and ORR (Wilson 95 % CI), and the BOR counts."""
    per_lesion = c.mode == "per_lesion"
    rows = []
    outside = _outside_window(c)
    for tp, label in TIMEPOINTS:
        responses, missing, after = (_timepoint_lesions if per_lesion else _timepoint_patients)(c, tp)
        counts = _counts(responses)
        remission, orr = _rates(c, counts)
        pop = evaluable(c, tp)
        rows.append(Table1Row(tp, label, counts.total, counts, remission, orr, tuple(missing), tuple(after),
                              tuple(dict.fromkeys(o.study_id for o in outside if o.timepoint == tp and not o.counted)),
                              f"{pop.text} of {len(c.patients)} implanted"))
    bor = []
    # Patients without any follow-up assessment yet (early in follow-up) have no best response to count.
    k = c.columns
    visits = k.visits
    after_implant = ~visits.is_baseline & (np.array(visits.day, dtype=np.int64) > 0)
    followed = np.unique(visits.patient[after_implant]).tolist()
    followed_ids = {k.patient_id[i] for i in followed}
    waiting = tuple(sid for sid, pid in zip(k.study_id, k.patient_id, strict=True) if pid not in followed_ids)
    for kind in ("unconfirmed", "confirmed"):
        column = k.bor_unconfirmed if kind == "unconfirmed" else k.bor_confirmed
        values = [column[i] for i in followed]
        counts = _counts(values)
        remission, orr = _rates(c, counts)
        bor.append(BorSummary(kind, counts.total, counts, remission, orr,
                              waiting + tuple(k.study_id[i] for i, v in zip(followed, values, strict=True) if not v)))
    bor_rule_sets = sorted({rs for rs in k.followup_rule_set if rs})
    if per_lesion:  # every row counts lesions: the best response of each lesion (assessment.cohort_lesions)
        bor, bor_rule_sets = list(lesion_bor_summaries(c)), [RULE_SET_PER_LESION]
    unit = "lesion" if per_lesion else "patient"
    notes = [
        f"Unit: {unit}; categories by {MODE_LABELS[c.mode]} (rule set {c.rule_set}).",
        "Non-CR/Non-PD (non-target disease only) is counted with SD.",
        f"Population per time point: evaluable = all implanted with a category computed from the time point's visit "
        f"{_window_rule(c)} (NE included, §1.10); N = {'the lesions of ' if per_lesion else ''}those patients; {unit}s without the "
        "visit are listed as not assessed; visits after a new anticancer therapy are left out and listed.",
        ("Visits outside their protocol window are listed (study ID, time point, day, window in days since the "
         "implant) and not counted (protocol cohort.in_window_only = true)." if c.in_window_only else
         "Visits outside their protocol window are counted (protocol cohort.in_window_only = false) and listed."),
        f"Remission rate = {'+'.join(REMISSION[c.remission_definition][1])} (protocol "
        f"followup.remission_definition = '{c.remission_definition}'); ORR = CR+PR. 95 % CI: Wilson score.",
        f"Best overall response is per {unit} ({'each lesion from its own stored categories' if per_lesion else 'stored follow-up result'}, "
        f"RECIST §1.9; confirmation ≥ 28 days); {unit}s with no follow-up assessment yet are listed as not "
        "assessed, not counted as NE.",
    ]
    if per_lesion:
        notes.append("Modified RECIST (per lesion) is not RECIST 1.1: every measurable lesion is judged on its own "
                     "diameter.")
    return Table1(c.mode, MODE_LABELS[c.mode], c.rule_set, unit, c.remission_definition,
                  REMISSION[c.remission_definition][0], tuple(rows), ", ".join(bor_rule_sets) or c.patient_rule_set,
                  tuple(bor), tuple(notes), outside, c.in_window_only)

# --- Table 2: volume and Tg --------------------------------------------------------------------------------------


def table2(c: Cohort) -> Table2:
    """Total lesion volume mean ± SD (paired t vs baseline) and Tg median (P25, P75) (Wilcoxon vs baseline).

    The baseline row describes all implanted patients with a baseline value; each follow-up row describes the
    patients *paired* at that time point (baseline and follow-up value) and gives their own baseline beside it, so
    both sides of every comparison are the same patients (n stated per row).

    Per-lesion mode: lesion volumes, no Tg (``assessment.cohort_lesions.table2``)."""
    if c.mode == "per_lesion":
        return lesion_table2(c)
    k = c.columns
    base_vol, base_tg = k.measures_at(BASELINE)
    n_all = len(c.patients)
    vol_rows, tg_rows = [], []
    present = [v for v in base_vol if v is not None]
    mean, sd, text = _mean_sd_text(present)
    vol_rows.append(VolumeRow("baseline", "Baseline", len(present), mean, sd, text, None, None, "",
                              f"All implanted with a baseline volume (n = {len(present)} of {n_all})"))
    labs = [v for v in base_tg if v is not None]
    mi = median_iqr(labs) if labs else None
    tg_rows.append(TgRow(
        "baseline", "Baseline", len(labs), mi.n_left_censored if mi else 0, mi.n_right_censored if mi else 0,
        _quantity(mi.median) if mi else None, _quantity(mi.q1) if mi else None, _quantity(mi.q3) if mi else None,
        mi.format() if mi else "no values", None, None, mi.note if mi else "",
        f"All implanted with a baseline Tg (n = {len(labs)} of {n_all})"))
    for tp, label in TIMEPOINTS:
        vols, values = k.measures_at(tp)
        pairs = [(b, f) for b, f in zip(base_vol, vols, strict=True) if b is not None and f is not None]
        mean, sd, text = _mean_sd_text([f for _, f in pairs])
        b_mean, b_sd, b_text = _mean_sd_text([b for b, _ in pairs])
        forced, auto, note = _paired(base_vol, vols, PairedTest.PAIRED_T)
        pop = paired(c, tp, "volume")
        vol_rows.append(VolumeRow(tp, label, len(pairs), mean, sd, text, forced, auto, note,
                                  f"{pop.text} of {n_all} implanted", b_mean, b_sd, b_text))

        tg_pairs = [(b, f) for b, f in zip(base_tg, values, strict=True) if b is not None and f is not None]
        mi = median_iqr([f for _, f in tg_pairs]) if tg_pairs else None
        b_mi = median_iqr([b for b, _ in tg_pairs]) if tg_pairs else None
        forced, auto, note = _paired(base_tg, values, PairedTest.WILCOXON)
        pop = paired(c, tp, "tg")
        tg_rows.append(TgRow(
            tp, label, len(tg_pairs), mi.n_left_censored if mi else 0, mi.n_right_censored if mi else 0,
            _quantity(mi.median) if mi else None, _quantity(mi.q1) if mi else None, _quantity(mi.q3) if mi else None,
            mi.format() if mi else "no values", forced, auto, note or (mi.note if mi else ""),
            f"{pop.text} of {n_all} implanted", b_mi.format() if b_mi else "no values"))
    notes = (
        f"Patient-level volumes and Tg; categories behind them by {c.patient_rule_set}.",
        "Populations: the baseline row is every implanted patient with a baseline value; each follow-up row is "
        f"the patients paired at that time point (baseline and follow-up value, the follow-up visit {_window_rule(c)}"
        ", before any new therapy), shown with their own baseline: both sides of each comparison are the same "
        "patients, n per row.",
        "Volume: total of the ellipsoid volumes (π/6·a·b·c) of every followed lesion, cm³; mean ± sample SD. "
        "vs baseline on complete pairs with the paired t-test, forced as the study did; 'auto' is the test chosen "
        "from the Kolmogorov–Smirnov (Lilliefors) normality of the differences.",
        "Tg: TSH-suppressed Tg (ng/mL) recorded at the visit; median (P25, P75), quantiles type 6 (SPSS); '<' "
        "values are ranked below every detected value and '>' values above. vs baseline with the Wilcoxon "
        "signed-rank test (Z as SPSS), forced as the study did; censored values tie at their limit.",
    )
    return Table2(c.patient_rule_set, "patient", tuple(vol_rows), tuple(tg_rows), "weibull (type 6)",
                  notes)

# --- Table 3: 12-month efficacy by factor ------------------------------------------------------------------------


def table3(c: Cohort) -> Table3:
    """12-month effective (CR+PR+SD) vs ineffective (PD) by sex, histology, age, baseline Tg and volume,
    enhancement and distant metastasis, each with the 2×2 test chosen by ``stats.compare_2x2``.
    Per-lesion mode: lesions counted (``assessment.cohort_lesions.table3``)."""
    if c.mode == "per_lesion":
        return lesion_table3(c)
    k = c.columns
    overall, day = k.visits.overall, k.visits.day
    included: list[tuple[int, bool]] = []
    ne, missing, after = [], [], []
    for i, (sid, v) in enumerate(zip(k.study_id, k.visit_at("m12"), strict=True)):
        if v < 0 or not overall[v]:
            missing.append(sid)
        elif k.after_new_therapy(i, day[v]):
            after.append(sid)
        elif overall[v] == "NE":
            ne.append(sid)
        else:
            included.append((i, overall[v] != "PD"))
    eff = [e for _, e in included]
    pts = [i for i, _ in included]
    base_vol, base_tg = k.measures_at(BASELINE)
    rows = [
        _factor("Sex", "Male", "Female", [k.sex[i] == SEX_MALE for i in pts], eff),
        _factor("Histology", "Papillary", "Other", [k.histology[i] == HISTOLOGY_PAPILLARY for i in pts], eff),
        _factor("Age at implant", f"≤ {AGE_CUT_YEARS} years", f"> {AGE_CUT_YEARS} years",
                [k.age_at_implant[i] <= AGE_CUT_YEARS for i in pts], eff),
    ]
    rows.append(_median_split(
        "Baseline Tg", base_tg, [base_tg[i] for i in pts], eff,
        level=lambda cut: f"{cut:g} ng/mL", missing_note="no baseline Tg",
        note=lambda mi: f"cohort median baseline Tg {mi.median.format()} ng/mL (n = {mi.n})"))
    rows.append(_median_split(
        "Baseline volume", base_vol, [base_vol[i] for i in pts], eff,
        level=lambda cut: f"{cut:.2f} cm³", missing_note="no baseline volume",
        note=lambda mi: f"cohort median baseline volume {mi.median.value:.2f} cm³ (n = {mi.n})"))
    rows.append(_factor("Enhancement", "Yes", "No", [k.enhancement_at_baseline[i] for i in pts], eff))
    rows.append(_factor("Distant metastasis", "Yes", "No", [k.distant_metastasis[i] for i in pts], eff))
    notes = (
        f"Population: evaluable at 12 months without NE (n = {len(included)} of {len(c.patients)} implanted; the "
        f"12-month visit {_window_rule(c)}).",
        f"Per patient, 12-month category by {c.patient_rule_set}: effective = CR+PR+SD (Non-CR/Non-PD with SD), "
        "ineffective = PD; NE, no 12-month result, or a 12-month visit after new therapy are excluded and listed.",
        "Test per 2×2 table (rows = factor levels, columns = effective / ineffective): n ≥ 40 and all expected ≥ 5 "
        "→ Pearson χ²; n ≥ 40 and some expected in [1, 5) → Yates χ²; n < 40 or any expected < 1 → Fisher exact.",
        "Enhancement: any followed lesion with mild or marked enhancement at the baseline measurement (else as "
        "registered). Distant metastasis: M1 or any lung or bone lesion. Age in completed years at the implant.",
    )
    return Table3("m12", c.patient_rule_set, "patient", "effective (CR+PR+SD) vs ineffective (PD)",
                  len(included), tuple(ne), tuple(missing), tuple(after), tuple(rows), notes)

# --- flow diagram -------------------------------------------------------------------------------------------------

FLOW_REASONS = {
    "not_eligible": "not eligible",
    "not_implanted": "not implanted",
    "implanted_not_eligible": "implanted without an eligible latest assessment",
    "outside_window": "visit outside window",
    "no_category": "no category computed",
    "ne": "NE",
    "after_new_therapy": "new anticancer therapy",
    "died": "died",
    "lost": "lost to follow-up",
    "withdrawn": "withdrawn",
    "completed": "follow-up completed",
    "not_yet_due": "not yet due",
    "not_done": "visit not done",
}
_STATUS_REASON = {DIED: ("died", "died on day {d}"),
                  LOST: ("lost", "lost to follow-up, last contact on day {d}"),
                  WITHDRAWN: ("withdrawn", "withdrawn on day {d}"),
                  COMPLETED: ("completed", "follow-up completed on day {d}")}


@dataclass(frozen=True)
class FlowPatient:
    """A patient at a step: missing from it (``counted`` False) or counted but flagged (NE; implanted without an
    eligible assessment). ``detail`` uses days since the implant, never calendar dates."""

    study_id: str
    reason: str  # a key of FLOW_REASONS
    detail: str
    counted: bool = False

    @property
    def reason_label(self) -> str:
        return FLOW_REASONS[self.reason]


@dataclass(frozen=True)
class FlowStep:
    key: str  # registered, eligible, implanted, m2, m6, m12
    label: str
    n: int
    of: str  # the step this one is counted from ("" for registered)
    patients: tuple[FlowPatient, ...]  # missing (with the reason) and flagged

    @property
    def missing(self) -> tuple[FlowPatient, ...]:
        return tuple(p for p in self.patients if not p.counted)

    @property
    def flagged(self) -> tuple[FlowPatient, ...]:
        return tuple(p for p in self.patients if p.counted)

    def reasons(self) -> list[tuple[str, int]]:
        """(reason label, patients) for the missing patients, most frequent first."""
        counts: dict[str, int] = defaultdict(int)
        for p in self.missing:
            counts[p.reason_label] += 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True)
class Flow:
    steps: tuple[FlowStep, ...]
    notes: tuple[str, ...]


def _flow_reason(k: CohortColumns, i: int, tp: str, v: int, outside: Sequence[int]) -> FlowPatient | None:
    """Why patient ``i`` (whose visit of ``tp`` is row ``v``, -1 when none, and whose visits labelled ``tp``
    outside its window are ``outside``) is not evaluable at ``tp`` (None when evaluable and not NE; NE is
    flagged, counted)."""
    sid = k.study_id[i]
    if v >= 0:
        overall, day = k.visits.overall[v], k.visits.day[v]
        after = k.after_new_therapy(i, day)
        if overall and not after:
            return FlowPatient(sid, "ne", f"visit on day {day}: NE", True) if overall == "NE" else None
        if after:
            return FlowPatient(sid, "after_new_therapy",
                               f"visit on day {day}, after a new anticancer therapy from day {k.new_therapy_day[i]}")
        return FlowPatient(sid, "no_category", f"visit on day {day}: no category computed (e.g. no "
                                               "baseline or no measurement)")
    start, end = k.window_days(i, tp) or (0, 0)
    window = f"window days {start}–{end}"
    if outside:
        days = ", ".join(str(k.visits.day[o]) for o in outside)
        return FlowPatient(sid, "outside_window", f"visit on day {days}, {window}")
    therapy_day, status, status_day = k.new_therapy_day[i], k.followup_status[i], k.status_day[i]
    if therapy_day is not None and therapy_day < start:
        return FlowPatient(sid, "after_new_therapy",
                           f"new anticancer therapy from day {therapy_day}, before the {window}")
    if status in LEFT_FOLLOW_UP and status_day is not None and status_day <= end:
        reason, text = _STATUS_REASON[status]
        return FlowPatient(sid, reason, f"{text.format(d=status_day)}, {window}")
    today = k.days_since_implant[i]
    if today is not None and today <= end:
        return FlowPatient(sid, "not_yet_due", f"{window} not closed yet (today is day {today})")
    return FlowPatient(sid, "not_done", f"no visit recorded in the {window}")


def flow(c: Cohort) -> Flow:
    """Registered → eligible (latest eligibility) → implanted → evaluable at 2, 6 and 12 months, with the reason
    for every patient missing at each step. The time-point steps count from all implanted (a patient missing at 2
    months may be evaluable at 6); NE patients are counted (in Table 1's N) and flagged."""
    reg = c.registered
    k = c.columns
    eligible = [x for x in reg if x.eligibility_status == ELIGIBLE]
    status_label = ELIGIBILITY_LABELS
    steps = [
        FlowStep("registered", "Registered", len(reg), "", ()),
        FlowStep("eligible", "Eligible (latest eligibility)", len(eligible), "registered", tuple(
            FlowPatient(x.study_id, "not_eligible",
                        f"latest eligibility: {status_label.get(x.eligibility_status, x.eligibility_status)}")
            for x in reg if x.eligibility_status != ELIGIBLE and not x.implanted)
            + tuple(FlowPatient(x.study_id, "not_eligible",
                                f"latest eligibility: {status_label.get(x.eligibility_status, x.eligibility_status)}"
                                " (implanted nevertheless)")
                    for x in reg if x.eligibility_status != ELIGIBLE and x.implanted)),
        FlowStep("implanted", "Implanted (all implanted)", len(c.patients), "eligible", tuple(
            FlowPatient(x.study_id, "not_implanted", "eligible, no implant recorded")
            for x in eligible if not x.implanted) + tuple(
            FlowPatient(sid, "implanted_not_eligible", f"latest eligibility: {status_label.get(st, st)}", True)
            for sid, st in zip(k.study_id, k.eligibility_status, strict=True) if st != ELIGIBLE)),
    ]
    for tp, label in TIMEPOINTS:
        pop = evaluable(c, tp)
        found = [fp for i, (v, outside) in enumerate(zip(k.visit_at(tp), k.outside_window(tp), strict=True))
                 if (fp := _flow_reason(k, i, tp, v, outside)) is not None]
        steps.append(FlowStep(tp, f"Evaluable at {label}", pop.n, "implanted", tuple(found)))
    notes = (
        "Counts are patients. Eligible = the latest eligibility assessment says eligible; the time-point steps "
        "count from all implanted.",
        f"Evaluable = a category (NE included, flagged) computed from the time point's visit {_window_rule(c)}, "
        "before any new anticancer therapy; days count from the implant (day 0).",
        "Follow-up status (died, lost, withdrawn, completed) explains a missing visit when it came before the "
        "window closed; 'not yet due' = the window is still open today.",
        *(("With an implant-period filter, registered patients without an implant are kept (they have no implant "
           "date); patients implanted outside the period are left out.",)
          if c.filter.implant_from or c.filter.implant_to else ()),
    )
    return Flow(tuple(steps), notes)

# --- Table 4: dosimetry ------------------------------------------------------------------------------------------


TABLE4 = (
    ("d90_gy", "D90 (Gy)"), ("d100_gy", "D100 (Gy)"), ("v100_pct", "V100 (%)"), ("v150_pct", "V150 (%)"),
    ("hi", "HI"), ("volume_cm3", "Target volume (cm³)"), ("seed_count", "Seeds"),
)


def pre_post_summary(pairs: Sequence[PlanPair]) -> dict[str, Any]:
    """Pre vs post over the implants with both plans: per parameter n, mean ± SD of each phase and the paired test
    chosen from the normality of the differences (a parameter needs 3 complete pairs), and how many post-implant D90
    fall below the prescription. The Table 4 page shows this dict; :func:`table4_of` turns it into :class:`Table4`."""
    columns = _complete_columns(pairs)
    rows = []
    for i, (key, label) in enumerate(TABLE4):
        if columns is None:
            values = [(float(pre), float(post)) for p in pairs
                      if (pre := p.pre.get(key)) is not None and (post := p.post.get(key)) is not None]
            pre_v, post_v = [a for a, _ in values], [b for _, b in values]
        else:
            pre_v, post_v = columns[i]
        if len(pre_v) < 3:
            rows.append({"key": key, "label": label, "n": len(pre_v), "pre": None, "post": None, "test": None})
            continue
        try:
            result, note = paired_compare(pre_v, post_v), ""
        except StatsInputError as exc:  # e.g. every difference is 0 (same seed count pre and post)
            result, note = None, f"no paired test: {exc}"
        rows.append({"key": key, "label": label, "n": len(pre_v), "pre": mean_sd(pre_v), "post": mean_sd(post_v),
                     "test": result, "note": note})
    below = [p for p in pairs if (d90 := p.post.get("d90_gy")) is not None and p.prescription_gy is not None
             and float(d90) < p.prescription_gy]
    return {"n_pairs": len(pairs), "rows": rows, "post_d90_below_rx": len(below)}


_TABLE4_KEYS = tuple(key for key, _ in TABLE4)


def _complete_columns(pairs: Sequence[PlanPair]) -> list[tuple[list[float], list[float]]] | None:
    """Per parameter of :data:`TABLE4`, (pre, post) as floats over the pairs that record it in both phases, in
    the pairs' order: what :func:`pre_post_summary` reads one pair at a time, read a column at a time (a column
    without a missing value is converted at once). None when a phase lacks one of the keys: the pair-at-a-time
    reading (``Mapping.get``) then decides."""
    if not pairs:
        return None
    from operator import itemgetter  # here, not at the top: the rest of this module is the cohort core's

    get = itemgetter(*_TABLE4_KEYS)
    try:
        pre = [get(p.pre) for p in pairs]
        post = [get(p.post) for p in pairs]
    except KeyError:
        return None
    out = []
    for pre_col, post_col in zip(zip(*pre, strict=True), zip(*post, strict=True), strict=True):
        if None in pre_col or None in post_col:
            both = [(a, b) for a, b in zip(pre_col, post_col, strict=True) if a is not None and b is not None]
            pre_col, post_col = tuple(a for a, _ in both), tuple(b for _, b in both)
        out.append((list(map(float, pre_col)), list(map(float, post_col))))
    return out


def _table4_from(raw: Mapping[str, Any], n_procedures: int) -> Table4:
    rows = []
    for row in raw["rows"]:
        pre, post, test = row["pre"], row["post"], row["test"]
        rows.append(Table4Row(
            row["key"], row["label"], row["n"], pre[0] if pre else None, pre[1] if pre else None,
            post[0] if post else None, post[1] if post else None,
            f"{pre[0]:.2f} ± {pre[1]:.2f}" if pre else "n < 3", f"{post[0]:.2f} ± {post[1]:.2f}" if post else "n < 3",
            PairedResult.of(test) if test is not None else None))
    notes = ("Index implant of each patient with both a pre-plan and a post-implant plan (planning-system numbers "
             "preferred over the TG-43 recomputation); GTV, else PTV. Paired test chosen from the normality of the "
             "differences (assessment.cohort_tables.pre_post_summary).",)
    return Table4(n_procedures, raw["n_pairs"], tuple(rows), raw["post_d90_below_rx"], notes)


def table4_of(pairs: Sequence[PlanPair], n_procedures: int) -> Table4:
    """Table 4 of ``n_procedures`` index implants, ``pairs`` of them with both plans; a table that cannot be
    computed (e.g. every difference of one parameter is zero) says so in its note."""
    try:
        return _table4_from(pre_post_summary(pairs), n_procedures)
    except StatsInputError as exc:
        return Table4(n_procedures, 0, (), 0, (f"Table 4 not computable: {exc}",))


def table4(c: Cohort) -> Table4:
    """Pre- vs post-implant dosimetry of the cohort's index implants (:func:`table4_of` of the pairs loaded with
    the cohort; computed on each call, so a page that does not show Table 4 does not pay for it)."""
    return table4_of(c.plan_pairs, len(c.patients))
