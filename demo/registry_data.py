"""Deterministic synthetic demo cohort shaped like the index study (42 patients), and demo users per role.

No real patient data: names are invented, dates are synthetic. Built through the same services the pages use,
so every derived value (stage, RAIR status, eligibility) comes out of the rules, not out of this file.
Running it twice changes nothing (patients are keyed by site + record number, users by user name). The demo
users' names, roles and password live in registry/demo_accounts.py, where a production start can refuse them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from registry import roles, services
from registry.demo_accounts import DEMO_PASSWORD, DEMO_USERS
from registry.models import Patient, Site, SiteMembership

SITES = [("NTC", "Northern Theater Command General Hospital (demo)"), ("DLH", "Dalian Harbour Hospital (demo)")]
N_PATIENTS = 42
N_SITE_B = 12  # the last 12 patients are followed at the second site

FAMILY = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun", "Ma", "Zhu"]
GIVEN_M = ["Wei", "Jun", "Lei", "Qiang", "Hao", "Bin", "Tao", "Peng", "Gang", "Ming", "Jie"]
GIVEN_F = ["Fang", "Na", "Min", "Jing", "Li", "Yan", "Xia", "Hong", "Juan", "Mei", "Ying"]


def _standardise(values: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """Rescale a sample to an exact mean and sample SD (so the demo reproduces the study's summary figures)."""
    z = (values - values.mean()) / values.std(ddof=1)
    return mean + sd * z


@dataclass
class DemoReport:
    sites: int = 0
    users: int = 0
    patients: int = 0


def ensure_users(report: DemoReport) -> dict[str, object]:
    User = get_user_model()
    roles.ensure_roles()
    sites = {s.code: s for s in Site.objects.all()}
    users = {}
    for username, (role, codes) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": role == roles.DATA_MANAGER}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.add(Group.objects.get(name=role))
            for code in codes:
                SiteMembership.objects.get_or_create(user=user, site=sites[code])
            report.users += 1
        users[username] = user
    return users


def _ellipsoid_axes_mm(volume_cm3: float, rng: np.random.Generator) -> tuple[float, float, float]:
    """Axes (long ≥ short, third) of an ellipsoid with the given volume, node-like proportions."""
    short_ratio = rng.uniform(0.68, 0.82)
    third_ratio = rng.uniform(0.8, 0.95)
    long_mm = (volume_cm3 * 1000 * 6 / math.pi / (short_ratio * third_ratio)) ** (1 / 3)
    return round(long_mm, 1), round(long_mm * short_ratio, 1), round(long_mm * third_ratio, 1)


@transaction.atomic
def load_demo_cohort() -> DemoReport:
    report = DemoReport()
    for code, name in SITES:
        _, created = Site.objects.get_or_create(code=code, defaults={"name": name})
        report.sites += created
    users = ensure_users(report)
    author = users["datamanager"]

    rng = np.random.default_rng(20161201)  # fixed seed: the same cohort on every machine
    ages = np.round(_standardise(rng.normal(50.8, 12.8, N_PATIENTS), 50.8, 12.8)).astype(int)
    volumes = np.round(_standardise(rng.normal(6.87, 1.67, N_PATIENTS), 6.87, 1.67), 2)
    tg = rng.lognormal(math.log(53.5), 1.1, N_PATIENTS)
    tg = tg * 53.5 / np.median(tg)
    first_implant = dt.date(2016, 12, 5)
    span_days = (dt.date(2019, 1, 20) - first_implant).days

    sites = {s.code: s for s in Site.objects.all()}
    for i in range(N_PATIENTS):
        site = sites["DLH" if i >= N_PATIENTS - N_SITE_B else "NTC"]
        record_number = f"{'D' if site.code == 'DLH' else 'N'}{100200 + i * 37}"
        if Patient.objects.filter(site=site, record_number=record_number).exists():
            continue
        male = i % 2 == 0
        implant = first_implant + dt.timedelta(days=int(i * span_days / (N_PATIENTS - 1)))
        birth = implant - dt.timedelta(days=int(ages[i] * 365.25 + rng.integers(30, 330)))
        years_before = int(rng.integers(4, 11))
        diagnosis = implant - dt.timedelta(days=365 * years_before + int(rng.integers(0, 200)))
        surgery = diagnosis + dt.timedelta(days=int(rng.integers(10, 40)))
        follicular = i % 6 == 5
        t_cat = ["T1b", "T2", "T3a", "T3b", "T4a", "T2", "T1a"][i % 7]
        distant = i in (7, 19, 33, 40, 11)  # lung or bone in a few
        patient = services.patient_create(user=author, site=site, data={
            "record_number": record_number,
            "family_name": FAMILY[i % len(FAMILY)],
            "given_name": (GIVEN_M if male else GIVEN_F)[i % 11],
            "sex": "M" if male else "F",
            "birth_date": birth,
            "diagnosis_date": diagnosis,
            "histology": "follicular" if follicular else "papillary",
            "surgery_extent": "total" if i % 9 else "near_total",
            "surgery_date": surgery,
            "central_neck_dissection": True,
            "lateral_neck_dissection": ["unilateral", "bilateral", "none"][i % 3],
            "ata_initial_risk": "high" if distant or t_cat == "T4a" else "intermediate",
            "t_category": t_cat,
            "n_category": "N1b" if i % 4 else "N1a",
            "m_category": "M1" if distant else "M0",
            "tsh_suppression": True,
        })
        # Treated cervical node, with baseline size and CT volume.
        long_mm, short_mm, third_mm = _ellipsoid_axes_mm(float(volumes[i]), rng)
        level = ["II", "III", "IV", "VI", "III", "IV", "V"][i % 7]
        side = "midline" if level == "VI" and i % 2 else ["left", "right"][i % 2]
        biopsy = implant - dt.timedelta(days=int(rng.integers(20, 60)))
        node = services.lesion_save(user=author, patient=patient, data={
            "region": "cervical_node", "cervical_level": level, "side": side, "nodal": True,
            "biopsy_date": biopsy, "biopsy_result": "metastatic", "iodine_uptake": "no",
            "fdg_avid": "yes" if i % 3 else "unknown", "enhancement": ["mild", "marked", "none"][i % 3],
            "baseline_long_mm": Decimal(str(long_mm)), "baseline_short_mm": Decimal(str(short_mm)),
            "baseline_third_mm": Decimal(str(third_mm)), "baseline_volume_cm3": Decimal(str(volumes[i])),
        })
        lesions = [node]
        if distant:
            if i % 2:
                extra = {"region": "lung", "lung_lobe": ["RUL", "LLL", "RLL"][i % 3], "nodal": False}
            else:
                extra = {"region": "bone", "site_detail": ["T8 vertebra", "left iliac bone"][i % 2], "nodal": False}
            lesions.append(services.lesion_save(user=author, patient=patient, data={
                **extra, "iodine_uptake": "no", "fdg_avid": "yes", "enhancement": "mild",
            }))
        # ¹³¹I courses: 4–6 courses of 3.7–7.4 GBq, the last ≥ 7 months before the implant.
        n_courses = int(rng.integers(4, 7))
        course_date = surgery + dt.timedelta(days=60)
        last_allowed = implant - dt.timedelta(days=215)
        gap = max(120, (last_allowed - course_date).days // n_courses)
        for k in range(n_courses):
            mci = float(rng.choice([160, 180, 200]))  # ≥ 4 courses → > 600 mCi (22.2 GBq)
            # RAIR-2 patients took up ¹³¹I on the first scan and lost it; RAIR-1 patients (i % 4 == 0) never did
            uptake = "yes" if k == 0 and i % 4 else "no"
            services.iodine_course_save(
                user=author, patient=patient,
                data={"date": min(course_date, last_allowed), "activity_value": Decimal(str(mci)),
                      "activity_unit": "mCi"},
                uptakes={le.pk: uptake for le in lesions},
            )
            course_date += dt.timedelta(days=gap)
        services.rair_update(user=author, patient=patient, data={
            "rair1_present": not i % 4,
            "rair2_present": bool(i % 4),
            "rair2_date": implant - dt.timedelta(days=230) if i % 4 else None,
            "rair2_evidence": "No uptake in the node on the last post-therapy scan" if i % 4 else "",
            "rair1_date": None if i % 4 else implant - dt.timedelta(days=230),
            "rair1_evidence": "" if i % 4 else "No uptake outside the thyroid bed on the first Rx-WBS",
            "fdg_avid": bool(i % 3),
        })
        labs = implant - dt.timedelta(days=int(rng.integers(2, 10)))
        services.eligibility_save(user=author, patient=patient, data={
            "assessment_date": labs,
            "planned_implant_date": implant,
            "labs_date": labs,
            "wbc_value": Decimal(str(round(float(rng.uniform(4.0, 8.5)), 1))), "wbc_unit": "×10⁹/L",
            "hemoglobin_value": Decimal(str(round(float(rng.uniform(11.5, 15.5)), 1))), "hemoglobin_unit": "g/dL",
            "platelets_value": Decimal(str(int(rng.uniform(150, 320)))), "platelets_unit": "×10⁹/L",
            "pta_pct": Decimal(str(int(rng.uniform(75, 110)))),
            "alt_u_per_l": Decimal(str(int(rng.uniform(12, 45)))), "alt_uln_u_per_l": Decimal("40"),
            "ast_u_per_l": Decimal(str(int(rng.uniform(14, 40)))), "ast_uln_u_per_l": Decimal("40"),
            "ecg": "normal" if i % 5 else "abnormal_not_significant",
            "kps": int(rng.choice([80, 90, 90, 100])),
            "tgab_iu_per_ml": Decimal(str(round(float(rng.uniform(5, 60)), 1))),
            "tgab_cutoff_iu_per_ml": Decimal("115"), "tgab_assay": "Roche Elecsys anti-Tg",
            "tg_qualifier": "=", "tg_ug_per_l": Decimal(str(round(float(tg[i]), 2))),
            "biopsy_proven_metastasis": True, "lesion_without_iodine_uptake": True,
            "severe_cardiopulmonary_insufficiency": False, "severe_hepatic_insufficiency": False,
            "severe_renal_insufficiency": False, "severe_coagulopathy": False, "cachexia": False,
            "concurrent_radio_or_chemotherapy": False, "immunotherapy": False,
        })
        report.patients += 1
    return report
