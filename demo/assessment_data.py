"""Demo follow-up of the synthetic cohort: baseline, 2-, 6- and 12-month visits that reproduce the index study.

The generator writes facts only (lesion axes, non-target status, new lesions, Tg / TgAb / TSH, skin scores, one
bleeding, the target designation) through :mod:`assessment.services`; every RECIST category, volume and ATA
response is computed by the engine from those facts. Figures aimed at (clinical-rules.md §9):

* remission (overall CR, PR or SD) at 2 / 6 / 12 months in 41 / 37 / 36 of 42 patients, the others PD: one by
  the sum at 2 months, three more by the sum and one by unequivocal progression of a non-target lung lesion at
  6 months, one by an unequivocal new lesion at 12 months (a patient once PD stays PD); three nodal CR;
* total lesion volume (ellipsoid of the three axes of every lesion) 6.87 ± 1.67 cm³ at baseline (the registry's
  baseline axes) and 4.44 ± 1.57, 4.20 ± 1.70, 4.23 ± 1.77 cm³ later, with the study's paired t (9.466, 9.923,
  7.566): the correlation with baseline that gives that t is solved for, then each visit is standardised;
* suppressed Tg median (P25, P75) 15.95 (5.45, 73.93), 8.90 (2.20, 39.21) and 6.00 (1.60, 31.40) ng/mL (Hyndman–
  Fan type 6 like :func:`assessment.stats.median_iqr`; the 12-month quartiles are not in the study's abstract),
  baseline = the eligibility Tg (median 53.5), a few "<0.2" (complete responders) and ">1000" (progressors);
* RTOG/EORTC acute skin at 2 months: grade 2 in two patients, grade 0–1 in the others; one CTCAE postoperative
  hemorrhage grade 1 on the implant day.
* follow-up status after the 12-month visit (Tables 1–3 unchanged): completed on the day of the 12-month visit,
  except one death from thyroid cancer, one lost to follow-up and one withdrawal some months later
  (:data:`STATUS_PLAN`).

Every visit is CT (2 mm slices) with all three axes of every lesion: the treated node (target, short axis ≥ 15 mm)
and, in the five patients with a lung or bone metastasis, that lesion (< 10 mm, so non-target, followed as present
or unequivocally progressing). Baseline 3–20 days before the implant; follow-ups at implant + 2 / 6 / 12 calendar
months ± 10 / 21 / 21 days, inside the protocol windows. Labs at every visit: suppressed Tg (one assay, LoQ 0.2),
TgAb (negative, the eligibility assay) and TSH.

The numbers are solved first (:func:`design_followup`, plain data in and out, numpy with a fixed seed) and then
written (:func:`add_demo_followup`); a patient who already has visits is skipped, so a second call adds nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.db import transaction
from scipy.optimize import brentq

from assessment import services
from assessment.models import Visit
from demo.registry_data import DEMO_USERS, N_PATIENTS, SITES
from dosimetry import services as dosimetry_services
from dosimetry.models import SeedModel
from registry import roles as registry_roles
from registry import services as registry_services
from registry.models import Patient, Site

SEED = 20190212
FOLLOW_UPS = ("m2", "m6", "m12")
MONTHS = {"m2": 2, "m6": 6, "m12": 12}
DATE_JITTER_DAYS = {"m2": 10, "m6": 21, "m12": 21}  # inside the protocol windows (±14, ±30, ±30)
BASELINE_DAYS_BEFORE = (3, 20)

# Index study (clinical-rules.md §9): total lesion volume mean ± SD (cm³) and paired t against baseline.
VOLUME_MEAN_SD_CM3 = {"m2": (4.44, 1.57), "m6": (4.20, 1.70), "m12": (4.23, 1.77)}
PAIRED_T = {"m2": 9.466, "m6": 9.923, "m12": 7.566}
# Suppressed Tg (ng/mL): P25, median, P75 per visit.
TG_QUARTILES_NG_ML = {"m2": (5.45, 15.95, 73.93), "m6": (2.20, 8.90, 39.21), "m12": (1.60, 6.00, 31.40)}
TG_ASSAY = "Roche Elecsys Tg II"
TG_LOQ_NG_ML = 0.2
TG_UPPER_NG_ML = 1000
TGAB_ASSAY = "Roche Elecsys anti-Tg"  # the assay of the eligibility TgAb (cut-off 115 IU/mL)
TGAB_CUTOFF_IU_ML = Decimal("115")

# Patients by their position in the cohort (primary-key order, as demo.registry_data creates them).
# Progression: position → (first PD time point, how). "sum": target sum ≥ 20 % and ≥ 5 mm over the nadir.
PD_PLAN = {28: ("m2", "sum"), 3: ("m6", "sum"), 24: ("m6", "sum"), 37: ("m6", "sum"),
           11: ("m6", "non_target"), 14: ("m12", "new_lesion")}
CR_PLAN = {29: "m2", 26: "m6", 36: "m12"}  # nodal CR (short axis < 10 mm) from this visit on
TG_ABOVE = {(37, "m6"), (37, "m12"), (3, "m12")}  # reported ">1000"
TG_BELOW = {(29, "m6"), (29, "m12"), (26, "m12")}  # reported "<0.2"
RTOG_GRADE_2 = (9, 31)
RTOG_GRADE_1_SHARE = 0.35
HEMORRHAGE = 5  # the patient who moved during needle placement (demo.dosimetry_data DEVIATIONS)
NEW_LESION_SITE = "right level III cervical node, 13 mm short axis (outside the implanted volume)"
# Follow-up status after the 12-month visit (so Tables 1–3 are unchanged): position → (status, days after the
# 12-month visit, cause of death). Everyone else completed the study's follow-up on the day of the 12-month visit.
STATUS_PLAN = {28: ("died", 160, "thyroid_cancer"), 11: ("lost", 95, ""), 20: ("withdrawn", 40, "")}

# Shape of a follow-up node relative to its short-axis change: long-axis and third-axis ratios over the short-axis
# ratio stay within these bounds (a node does not flatten or stretch more than that while it shrinks or grows).
_SHAPE_MIN, _SHAPE_MAX = 0.62, 1.65
_CR_SHAPE_MAX = 1.4
# Nodes regress mostly across their short axis (they flatten back towards a normal oval node): the short-axis
# ratio is drawn this much (log scale) below the cube root of the volume ratio.
_FLATTENING = (-0.17, -0.2, -0.2)


class DemoFollowupError(ValueError):
    """The cohort cannot carry the designed follow-up; one line naming the field, the value and what is allowed."""


@dataclass(frozen=True)
class CohortPatient:
    """What the design needs from the registry for one patient (plain data)."""

    node_axes_mm: tuple[float, float, float]  # long, short, third axis of the treated node at baseline
    distant: str  # "" or the region of the one distant lesion ("lung", "bone")
    implant_date: dt.date
    tg0_ng_ml: float  # eligibility Tg (TSH suppressed)
    tgab0_iu_ml: float  # eligibility TgAb (negative, cut-off 115 IU/mL)


@dataclass(frozen=True)
class VisitDesign:
    timepoint: str
    visit_date: dt.date
    node_mm: tuple[float, float, float]
    distant_mm: tuple[float, float, float] | None
    distant_status: str  # "present" / "progression" ("" without a distant lesion)
    new_lesion: str  # site of an unequivocal new lesion, or ""
    tg: tuple[str, float]  # qualifier ("=", "<", ">") and value in ng/mL
    tgab_iu_ml: float
    tsh_miu_l: float
    rtog_grade: int | None  # acute skin score recorded at this visit


@dataclass(frozen=True)
class PatientDesign:
    visits: tuple[VisitDesign, ...]  # baseline, m2, m6, m12
    hemorrhage: bool


# --- the numbers -------------------------------------------------------------------------------------------------


def _ellipsoid_cm3(axes: np.ndarray) -> np.ndarray:
    return math.pi / 6 * np.prod(axes, axis=-1) / 1000


def _target_correlation(base: np.ndarray, tp: str) -> float:
    """Correlation with baseline that gives the study's paired t for the study's follow-up mean ± SD."""
    mean_k, sd_k = VOLUME_MEAN_SD_CM3[tp]
    m0, s0 = float(base.mean()), float(base.std(ddof=1))
    sd_diff = (m0 - mean_k) * math.sqrt(len(base)) / PAIRED_T[tp]
    return (s0**2 + sd_k**2 - sd_diff**2) / (2 * s0 * sd_k)


def _match_moments(values: np.ndarray, base: np.ndarray, mean: float, sd: float, rho: float) -> np.ndarray:
    """Shift ``values`` along baseline until their correlation with it is ``rho``, then rescale to an exact mean
    and sample SD (as demo.registry_data's _standardise); both steps keep the order of patients within a visit."""
    centred = base - base.mean()

    def gap(lam: float) -> float:
        return float(np.corrcoef(base, values + lam * centred)[0, 1]) - rho

    lam = brentq(gap, -100.0, 100.0, xtol=1e-12)
    x = values + lam * centred
    return mean + sd * (x - x.mean()) / x.std(ddof=1)


def _kinds(n: int) -> list[list[str]]:
    """Per patient and follow-up: the target course to build ("PD", "CR" or "free" = PR or SD as it falls)."""
    kinds = [["free"] * 3 for _ in range(n)]
    for i, (first, how) in PD_PLAN.items():
        if how == "sum":
            for k in range(FOLLOW_UPS.index(first), 3):
                kinds[i][k] = "PD"
    for i, first in CR_PLAN.items():
        for k in range(FOLLOW_UPS.index(first), 3):
            kinds[i][k] = "CR"
    return kinds


def _short_axes(ratio: np.ndarray, s0_10: np.ndarray, l0_mm: np.ndarray, kinds: list[list[str]],
                jitter: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Short axes (tenths of mm) consistent with each patient's course and node volume ratio.

    RECIST is applied to the rounded axes exactly as the engine does (nadir = smallest earlier sum, baseline
    included). Where no short axis fits both the course and the volume, the volume ratio is moved into range and
    ``changed`` is returned so the caller re-standardises.
    """
    n = len(s0_10)
    sa10 = np.zeros((n, 3), dtype=int)
    ratio = ratio.copy()
    changed = False
    nadir10 = s0_10.copy()
    for k in range(3):
        for i in range(n):
            s0 = int(s0_10[i])
            pd10 = max(math.ceil(6 * int(nadir10[i]) / 5), int(nadir10[i]) + 50)  # smallest PD short axis
            kind = kinds[i][k]
            if kind == "PD":  # and still growing once progressive
                lo10 = max(pd10 + 3, int(sa10[i, k - 1]) + 5 if k and kinds[i][k - 1] == "PD" else 0)
                hi10 = max(int(pd10 * 1.5), lo10 + 20)
            elif kind == "CR":
                lo10, hi10 = 70, 95
            else:  # PR or SD: a node still ≥ 10 mm, clearly below progression
                lo10, hi10 = 106, pd10 - 4
            shape_lo = max(_SHAPE_MIN, 1.04 * s0 / (10 * l0_mm[i]))  # long axis stays longer than the short
            shape_hi = _CR_SHAPE_MAX if kind == "CR" else _SHAPE_MAX
            r = float(ratio[i, k])
            fit_lo = math.ceil(s0 * (r / shape_hi**2) ** (1 / 3))
            fit_hi = math.floor(s0 * (r / shape_lo**2) ** (1 / 3))
            if max(lo10, fit_lo) > min(hi10, fit_hi):
                r_min = (lo10 / s0) ** 3 * shape_lo**2 * 1.05
                r_max = (hi10 / s0) ** 3 * shape_hi**2 * 0.95
                r = min(max(r, r_min), r_max)
                ratio[i, k] = r
                changed = True
                fit_lo = math.ceil(s0 * (r / shape_hi**2) ** (1 / 3))
                fit_hi = math.floor(s0 * (r / shape_lo**2) ** (1 / 3))
            lo, hi = max(lo10, fit_lo), min(hi10, fit_hi)
            want = s0 * r ** (1 / 3) * math.exp((0 if kind == "PD" else _FLATTENING[k]) + jitter[i, k])
            sa10[i, k] = int(round(min(max(want, lo), hi)))
            nadir10[i] = min(nadir10[i], sa10[i, k])
    return sa10, ratio, changed


def _distant_axes(cohort: Sequence[CohortPatient], rng: np.random.Generator) -> np.ndarray:
    """Axes (mm) of the distant lesions at the four visits: small (< 10 mm, non-measurable, non-target), stable,
    except the lung lesion that progresses unequivocally in the non-target PD patient. Zeros without one."""
    axes = np.zeros((len(cohort), 4, 3))
    grow = {i: FOLLOW_UPS.index(first) + 1 for i, (first, how) in PD_PLAN.items() if how == "non_target"}
    for i, p in enumerate(cohort):
        if not p.distant:
            continue
        long_mm = rng.uniform(5.5, 7.5)
        base = np.array([long_mm, long_mm * rng.uniform(0.78, 0.9), long_mm * rng.uniform(0.8, 0.95)])
        for v in range(4):
            factor = 1.0
            if i in grow and v >= grow[i]:
                factor = 1.9 + 0.5 * (v - grow[i])
            axes[i, v] = np.round(base * factor + (rng.uniform(-0.3, 0.3, 3) if v else 0.0), 1)
    return axes


def _fix_quantiles(cents: np.ndarray, q1: int, med: int, q3: int) -> np.ndarray:
    """Sorted values in cents (n = 42) adjusted at the six order statistics that make P25, median and P75 exact
    with Hyndman–Fan type 6: P25 = ¼x₁₀ + ¾x₁₁, median = ½(x₂₁ + x₂₂), P75 = ¾x₃₂ + ¼x₃₃ (1-based)."""
    x = cents.copy()
    x[10] = min(max(x[10], q1), x[11], (4 * q1 - x[8]) // 3)
    x[9] = 4 * q1 - 3 * x[10]
    x[21] = min(max(x[21], med), x[22], 2 * med - x[19])
    x[20] = 2 * med - x[21]
    x[31] = max(min(x[31], q3), x[30], -((x[33] - 4 * q3) // 3))
    x[32] = 4 * q3 - 3 * x[31]
    if not (np.all(np.diff(x) >= 0) and x[9] >= x[8] and x[32] <= x[33]):
        raise DemoFollowupError(f"tg: sorted values {x.tolist()} cannot carry the quartiles; allowed: sorted cents")
    return x


def _tg_design(cohort: Sequence[CohortPatient], ratio: np.ndarray, rng: np.random.Generator
               ) -> list[list[tuple[str, float]]]:
    """Suppressed Tg per patient and follow-up: a latent value (baseline Tg × node response, noise, progression
    and complete response), mapped monotonically onto the study's quartiles, then made exact."""
    n = len(cohort)
    tg0 = np.array([p.tg0_ng_ml for p in cohort])
    noise = 0.3 * rng.standard_normal(n)[:, None] + 0.15 * rng.standard_normal((n, 3))
    out: list[list[tuple[str, float]]] = [[("=", 0.0)] * 3 for _ in range(n)]
    for k, tp in enumerate(FOLLOW_UPS):
        latent = np.log(tg0) + 0.8 * np.log(ratio[:, k]) + noise[:, k]
        for i, (first, _) in PD_PLAN.items():
            if k >= FOLLOW_UPS.index(first):  # Tg keeps rising once the disease progresses
                latent[i] += math.log(1.8) * (1 + k - FOLLOW_UPS.index(first))
        for i, first in CR_PLAN.items():
            if k >= FOLLOW_UPS.index(first):
                latent[i] -= 1.5
        targets = np.log(TG_QUARTILES_NG_ML[tp])
        knots = np.array([_weibull_quantile(latent, p) for p in (0.25, 0.5, 0.75)])
        mapped = np.interp(latent, knots, targets)
        mapped = np.where(latent < knots[0], targets[0] + latent - knots[0], mapped)
        mapped = np.where(latent > knots[2], targets[2] + latent - knots[2], mapped)
        below = [i for i in range(n) if (i, tp) in TG_BELOW]
        above = [i for i in range(n) if (i, tp) in TG_ABOVE]
        mapped[below], mapped[above] = -np.inf, np.inf
        order = np.argsort(mapped, kind="stable")
        cents = np.round(np.exp(mapped[order]) * 100)
        cents = np.where(np.isfinite(cents), cents, 0)
        detected = slice(len(below), n - len(above))
        cents[detected] = np.maximum.accumulate(np.maximum(cents[detected], round(TG_LOQ_NG_ML * 100) + 1))
        cents[n - len(above):] = cents[n - len(above) - 1]
        q1, med, q3 = (round(q * 100) for q in TG_QUARTILES_NG_ML[tp])
        fixed = _fix_quantiles(cents.astype(np.int64), q1, med, q3)
        for rank, i in enumerate(order):
            if i in below:
                out[i][k] = ("<", TG_LOQ_NG_ML)
            elif i in above:
                out[i][k] = (">", float(TG_UPPER_NG_ML))
            else:
                out[i][k] = ("=", fixed[rank] / 100)
    return out


def _weibull_quantile(x: np.ndarray, p: float) -> float:
    return float(np.quantile(x, p, method="weibull"))


def design_followup(cohort: Sequence[CohortPatient], seed: int = SEED) -> list[PatientDesign]:
    """Solve the follow-up numbers of the 42-patient demo cohort (plain data; deterministic for a seed)."""
    n = len(cohort)
    if n != N_PATIENTS:
        raise DemoFollowupError(f"cohort: got {n} patients; allowed: the {N_PATIENTS} demo patients")
    rng = np.random.default_rng(seed)
    node0 = np.array([p.node_axes_mm for p in cohort], dtype=float)
    l0, s0_10 = node0[:, 0], np.round(node0[:, 1] * 10).astype(int)
    node_v0 = _ellipsoid_cm3(node0)
    distant = _distant_axes(cohort, rng)
    distant_v = np.where(distant[:, :, 0] > 0, _ellipsoid_cm3(distant), 0.0)
    total0 = node_v0 + distant_v[:, 0]

    # Latent course: one response propensity per patient, a little visit-to-visit change.
    u = rng.standard_normal(n)
    e = rng.standard_normal((n, 3))
    log_r = np.empty((n, 3))
    log_r[:, 0] = math.log(0.62) + 0.28 * u + 0.10 * e[:, 0]
    log_r[:, 1] = log_r[:, 0] - 0.05 + 0.12 * e[:, 1]
    log_r[:, 2] = log_r[:, 1] + 0.13 * e[:, 2]
    ratio = np.exp(log_r)
    for i, (first, how) in PD_PLAN.items():
        if how == "sum":  # grows from baseline (PD at 2 months) or from a shrunken nadir (PD later)
            start = FOLLOW_UPS.index(first)
            ratio[i, :start] = 0.5
            ratio[i, start:] = ((1.7, 2.0, 2.3) if start == 0 else (0.95, 1.15))[: 3 - start]
    for i, first in CR_PLAN.items():
        start = FOLLOW_UPS.index(first)
        ratio[i, :start] = 0.3
        ratio[i, start:] = 0.12
    kinds = _kinds(n)
    jitter = np.clip(rng.normal(0, 0.06, (n, 3)), -0.12, 0.12)

    for _ in range(60):
        totals = node_v0[:, None] * ratio + distant_v[:, 1:]
        for k, tp in enumerate(FOLLOW_UPS):
            mean, sd = VOLUME_MEAN_SD_CM3[tp]
            totals[:, k] = _match_moments(totals[:, k], total0, mean, sd, _target_correlation(total0, tp))
        ratio = np.maximum(totals - distant_v[:, 1:], 0.05 * node_v0[:, None]) / node_v0[:, None]
        sa10, ratio, changed = _short_axes(ratio, s0_10, l0, kinds, jitter)
        if not changed:
            break
    else:
        raise DemoFollowupError("volumes: no short axes fit the courses after 60 rounds; allowed: a feasible design")

    split = np.clip(rng.normal(0, 0.05, (n, 3)), -0.1, 0.1)
    tg = _tg_design(cohort, ratio, rng)
    non_target_pd = {i: FOLLOW_UPS.index(f) + 1 for i, (f, how) in PD_PLAN.items() if how == "non_target"}
    new_lesion_at = {i: FOLLOW_UPS.index(f) + 1 for i, (f, how) in PD_PLAN.items() if how == "new_lesion"}
    designs = []
    for i, p in enumerate(cohort):
        visits = []
        dates = [p.implant_date - dt.timedelta(days=int(rng.integers(BASELINE_DAYS_BEFORE[0],
                                                                     BASELINE_DAYS_BEFORE[1] + 1)))]
        for tp in FOLLOW_UPS:
            jit = DATE_JITTER_DAYS[tp]
            dates.append(p.implant_date + relativedelta(months=MONTHS[tp])
                         + dt.timedelta(days=int(rng.integers(-jit, jit + 1))))
        if i in RTOG_GRADE_2:
            rtog = 2
        else:
            rtog = 1 if rng.random() < RTOG_GRADE_1_SHARE else 0
        tgabs = np.round(p.tgab0_iu_ml * rng.uniform(0.85, 1.1, 4), 1)
        tshs = np.round(rng.uniform(0.02, 0.09, 4), 3)
        for v in range(4):
            if v == 0:
                node = tuple(float(a) for a in node0[i])
                tg_v = ("=", p.tg0_ng_ml)
            else:
                node = _node_axes(node0[i], node_v0[i] * ratio[i, v - 1], sa10[i, v - 1] / 10, split[i, v - 1])
                tg_v = tg[i][v - 1]
            has_distant = bool(p.distant)
            status = ""
            if has_distant:
                status = "progression" if i in non_target_pd and v >= non_target_pd[i] else "present"
            visits.append(VisitDesign(
                timepoint="baseline" if v == 0 else FOLLOW_UPS[v - 1],
                visit_date=dates[v],
                node_mm=node,
                distant_mm=tuple(float(a) for a in distant[i, v]) if has_distant else None,
                distant_status=status,
                new_lesion=NEW_LESION_SITE if i in new_lesion_at and v >= new_lesion_at[i] else "",
                tg=tg_v,
                tgab_iu_ml=float(tgabs[v]),
                tsh_miu_l=float(tshs[v]),
                rtog_grade=rtog if v == 1 else None,
            ))
        designs.append(PatientDesign(tuple(visits), hemorrhage=i == HEMORRHAGE))
    return designs


def _node_axes(base_mm: np.ndarray, volume_cm3: float, short_mm: float, split: float
               ) -> tuple[float, float, float]:
    """Long and third axes around the short axis so the ellipsoid has ``volume_cm3`` (rounded to 0.1 mm)."""
    l0, s0, t0 = (float(a) for a in base_mm)
    b = short_mm / s0
    ratio = volume_cm3 / _ellipsoid_cm3(np.asarray(base_mm))
    side = math.sqrt(ratio / b)
    long_mm = max(round(l0 * side * math.exp(split), 1), round(short_mm + 1.0, 1))
    third_mm = round(volume_cm3 * 6000 / (math.pi * long_mm * short_mm), 1)
    c = third_mm / t0
    if not (0.4 * b <= c <= 2.5 * b):
        raise DemoFollowupError(
            f"third_mm: {third_mm} (short {short_mm}, long {long_mm}) is out of shape; allowed: 0.4–2.5 × short ratio"
        )
    return long_mm, round(short_mm, 1), third_mm


# --- writing it through the services -----------------------------------------------------------------------------


def cohort_patient(patient: Patient) -> CohortPatient:
    lesions = list(patient.lesions.all())
    node = lesions[0]
    procedure = services.index_procedure(patient)
    if procedure is None or node.baseline_short_mm is None:
        raise DemoFollowupError(
            f"patient {patient.study_id}: no implant or no baseline node axes; allowed: the demo cohort with its "
            "procedures (run add_demo_procedures first)"
        )
    eligibility = patient.eligibility_assessments.all()[0]
    return CohortPatient(
        node_axes_mm=(float(node.baseline_long_mm), float(node.baseline_short_mm), float(node.baseline_third_mm)),
        distant=lesions[1].region if len(lesions) > 1 else "",
        implant_date=procedure.date,
        tg0_ng_ml=float(eligibility.tg_ug_per_l),
        tgab0_iu_ml=float(eligibility.tgab_iu_per_ml),
    )


def _d(value: float, places: str = "0.1") -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places))


def _axes(axes: Sequence[float]) -> dict[str, Decimal]:
    return {"long_mm": _d(axes[0]), "short_mm": _d(axes[1]), "third_mm": _d(axes[2])}


def _labs(v: VisitDesign) -> list[dict[str, object]]:
    qualifier, value = v.tg
    return [
        {"analyte": "tg", "qualifier": qualifier, "value": _d(value, "0.01"), "unit": "ng/mL",
         "tsh_state": "suppressed", "assay": TG_ASSAY, "loq": _d(TG_LOQ_NG_ML, "0.01")},
        {"analyte": "tgab", "qualifier": "=", "value": _d(v.tgab_iu_ml), "unit": "IU/mL",
         "tgab_cutoff_iu_ml": TGAB_CUTOFF_IU_ML, "assay": TGAB_ASSAY},
        {"analyte": "tsh", "qualifier": "=", "value": _d(v.tsh_miu_l, "0.001"), "unit": "mIU/L"},
    ]


def _write_patient(patient: Patient, design: PatientDesign, *, nurse, physician, author) -> int:
    lesions = list(patient.lesions.all())
    node, distant = lesions[0], (lesions[1] if len(lesions) > 1 else None)
    for v in design.visits:
        measurements: dict[int, dict[str, object]] = {node.pk: {"qualifier": "measured", **_axes(v.node_mm)}}
        if distant is not None and v.distant_mm is not None:
            measurements[distant.pk] = {"qualifier": "measured", **_axes(v.distant_mm),
                                        "non_target_status": v.distant_status}
        services.visit_save(user=nurse, patient=patient, data=services.VisitInput(
            visit={"visit_date": v.visit_date, "timepoint": v.timepoint, "modality": "ct",
                   "slice_thickness_mm": Decimal("2.0"), "reader": "Dr Gao (radiology, demo)"},
            measurements=measurements,
            new_lesions=[{"site": v.new_lesion, "certainty": "unequivocal", "modality": "ct"}] if v.new_lesion else [],
            labs=_labs(v),
            toxicities=[{"kind": "rtog_skin", "grade": v.rtog_grade}] if v.rtog_grade is not None else [],
        ))
        if v.timepoint == "baseline":
            # Strict RECIST selection from the baseline sizes (nodes in short axis), signed by the physician.
            sizes = {node.pk: _d(v.node_mm[1])}
            if distant is not None and v.distant_mm is not None:
                sizes[distant.pk] = services.recist_axis_mm(distant, _d(v.distant_mm[0]), _d(v.distant_mm[1]))
            roles = services.propose_roles(lesions, sizes, services.recist_settings())
            services.designation_save(user=physician, patient=patient, roles=roles)
    if design.hemorrhage:
        implant = services.index_procedure(patient).date
        services.toxicity_save(user=author, patient=patient, data={
            "kind": "ctcae", "ctcae_term": "Postoperative hemorrhage", "grade": 1, "onset_date": implant,
            "resolution_date": implant, "treatment": "manual compression of the puncture site",
        })
    return len(design.visits)


def _demo_users() -> tuple[dict[str, object], object]:
    User = get_user_model()
    nurses = {}
    for username, (role, codes) in DEMO_USERS.items():
        if role == registry_roles.NURSE:
            for code in codes:
                nurses[code] = User.objects.get(username=username)
    physician = next(User.objects.get(username=u) for u, (role, _) in DEMO_USERS.items()
                     if role == registry_roles.PHYSICIAN)
    return nurses, physician


def add_demo_followup(author, rng_seed: int = SEED) -> int:
    """Record the designed visits of every demo patient who has none yet; returns the number of visits added.

    Visits are recorded by the site's nurse, the target designation by the physician, the implant-day bleeding
    by ``author`` (who recorded the procedures).
    """
    current = [record for record, _, _ in IN_FOLLOW_UP]  # patients in follow-up now are not the study cohort
    patients = list(Patient.objects.filter(site__code__in=[code for code, _ in SITES]).exclude(
                    record_number__in=current).order_by("pk").select_related("site").prefetch_related("lesions", "eligibility_assessments"))
    followed = set(Visit.objects.filter(patient__in=patients).values_list("patient_id", flat=True))
    if all(p.pk in followed for p in patients):
        return 0
    designs = design_followup([cohort_patient(p) for p in patients], rng_seed)
    nurses, physician = _demo_users()
    added = 0
    with transaction.atomic():
        for position, (patient, design) in enumerate(zip(patients, designs, strict=True)):
            if patient.pk not in followed:
                added += _write_patient(patient, design, nurse=nurses[patient.site.code], physician=physician,
                                        author=author)
                _write_status(patient, design, position, nurses[patient.site.code])
    return added


def _write_status(patient: Patient, design: PatientDesign, position: int, nurse) -> None:
    """The patient's follow-up status after the 12-month visit (completed, or one of :data:`STATUS_PLAN`)."""
    m12 = next(v.visit_date for v in design.visits if v.timepoint == "m12")
    status, days, cause = STATUS_PLAN.get(position, ("completed", 0, ""))
    services.followup_status_save(user=nurse, patient=patient, data={
        "status": status, "status_date": m12 + dt.timedelta(days=days), "death_cause": cause})


# --- patients in follow-up now (so the worklist has work) ---------------------------------------------------------

#: (record number, site, days since the implant): 2-month visit overdue, 2-month visit due, implanted last week.
IN_FOLLOW_UP = (("N900101", "NTC", 80), ("N900102", "NTC", 56), ("D900103", "DLH", 8))


def add_demo_in_follow_up(author, today: dt.date | None = None) -> int:
    """Three patients implanted recently (relative to ``today``) with only their baseline visit, so the nurses'
    worklist shows an overdue and a due 2-month visit (and one upcoming). They have no plans and no follow-up
    visit, so the study's counts at 2, 6 and 12 months and Table 4 are unchanged (their baselines enter the
    baseline row of Table 2; filter the implant period to Dec 2016 – Jan 2019 for the study cohort exactly).
    Idempotent; returns the number added."""
    today = today or dt.date.today()
    added = 0
    seed_model = SeedModel.objects.filter(code="STUDY-4.5TI").first() or SeedModel.objects.get(code="6711")
    for k, (record, site_code, days) in enumerate(IN_FOLLOW_UP):
        site = Site.objects.get(code=site_code)
        if Patient.objects.filter(site=site, record_number=record).exists():
            continue
        implant = today - dt.timedelta(days=days)
        with transaction.atomic():
            patient = registry_services.patient_create(user=author, site=site, data={
                "record_number": record, "family_name": ["Okafor", "Lindqvist", "Moreau"][k],
                "given_name": ["Ada", "Erik", "Claire"][k], "sex": ["F", "M", "F"][k],
                "birth_date": dt.date(1961 + 7 * k, 3 + k, 14), "diagnosis_date": implant - dt.timedelta(days=2400),
                "histology": "papillary", "surgery_extent": "total",
                "surgery_date": implant - dt.timedelta(days=2380), "central_neck_dissection": True,
                "lateral_neck_dissection": "unilateral", "ata_initial_risk": "intermediate",
                "t_category": "T3a", "n_category": "N1b", "m_category": "M0", "tsh_suppression": True,
            })
            node = registry_services.lesion_save(user=author, patient=patient, data={
                "region": "cervical_node", "cervical_level": ["III", "IV", "II"][k], "side": "left", "nodal": True,
                "iodine_uptake": "no", "baseline_long_mm": Decimal("27.0"), "baseline_short_mm": Decimal("18.5"),
                "baseline_third_mm": Decimal("21.0"),
            })
            # The work-up that made them candidates (clinical reference §2.2, §8): four ¹³¹I courses (800 mCi,
            # > 22.2 GBq), the last ≥ 6 months before the implant, uptake on the first scan lost since (RAIR-2),
            # and an eligible pre-procedure assessment a few days before, so no demo implant is a protocol deviation.
            for n in range(4):
                registry_services.iodine_course_save(
                    user=author, patient=patient, uptakes={node.pk: "yes" if n == 0 else "no"},
                    data={"date": implant - dt.timedelta(days=1400 - 300 * n), "activity_value": Decimal("200"),
                          "activity_unit": "mCi"})
            registry_services.rair_update(user=author, patient=patient, data={
                "rair1_present": False, "rair2_present": True, "rair2_date": implant - dt.timedelta(days=480),
                "rair2_evidence": "No uptake in the node on the last post-therapy scan", "fdg_avid": True})
            labs = implant - dt.timedelta(days=5)
            registry_services.eligibility_save(user=author, patient=patient, data={
                "assessment_date": labs, "planned_implant_date": implant, "labs_date": labs,
                "wbc_value": Decimal("6.1"), "wbc_unit": "×10⁹/L", "hemoglobin_value": Decimal("13.4"),
                "hemoglobin_unit": "g/dL", "platelets_value": Decimal("231"), "platelets_unit": "×10⁹/L",
                "pta_pct": Decimal("92"), "alt_u_per_l": Decimal("24"), "alt_uln_u_per_l": Decimal("40"),
                "ast_u_per_l": Decimal("22"), "ast_uln_u_per_l": Decimal("40"), "ecg": "normal", "kps": 90,
                "tgab_iu_per_ml": Decimal("12"), "tgab_cutoff_iu_per_ml": Decimal("115"),
                "tgab_assay": "Roche Elecsys anti-Tg", "tg_qualifier": "=",
                "tg_ug_per_l": Decimal(["42.0", "18.6", "77.3"][k]), "biopsy_proven_metastasis": True,
                "lesion_without_iodine_uptake": True, "severe_cardiopulmonary_insufficiency": False,
                "severe_hepatic_insufficiency": False, "severe_renal_insufficiency": False,
                "severe_coagulopathy": False, "cachexia": False, "concurrent_radio_or_chemotherapy": False,
                "immunotherapy": False})
            dosimetry_services.procedure_save(user=author, patient=patient, lesions=[node], data={
                "date": implant, "operator": "Dr Wang", "seed_model": seed_model, "seeds_implanted": 16,
                "activity_per_seed_mbq": Decimal("22.2"), "activity_calibration_date": implant,
                "prescription_gy": Decimal("120"),
            })
            services.visit_save(user=author, patient=patient, data=services.VisitInput(
                visit={"visit_date": implant - dt.timedelta(days=6), "timepoint": "baseline", "modality": "ct",
                       "reader": "Dr Li"},
                measurements={node.pk: {"qualifier": "measured", "long_mm": Decimal("27.0"),
                                        "short_mm": Decimal("18.5"), "third_mm": Decimal("21.0"),
                                        "enhancement": "mild"}},
                labs=[{"analyte": "tg", "qualifier": "=", "value": Decimal(["42.0", "18.6", "77.3"][k]),
                       "unit": "ng/mL", "tsh_state": "suppressed", "assay": "Roche Elecsys Tg II"},
                      {"analyte": "tgab", "qualifier": "<", "value": Decimal("10"), "unit": "IU/mL",
                       "tgab_cutoff_iu_ml": Decimal("115"), "assay": "Roche Elecsys anti-Tg"}],
            ))
        added += 1
    return added
