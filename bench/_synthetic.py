"""Synthetic follow-up cohort for the speed benchmarks, written straight into a throw-away SQLite database.

Used by ``bench/dashboard.py`` (and ``bench/entry.py`` for the database set-up only). Not a test and not demo
data: the point is volume and shape, so that pages and reports read realistic numbers of rows.

* :func:`use_database` points Django at ``sqlite:///<path>`` through ``DATABASE_URL`` and runs
  ``django.setup()``; it must run before any model is imported, once per process.
* :func:`fresh_database` deletes the file and runs ``migrate`` (roles and the seed catalogue come from the
  post-migrate hooks).
* :func:`make_users` creates a nurse of the first site, a physician of every site and a data manager.
* :func:`build_cohort` writes ``n`` patients with ``bulk_create``, 1 000 patients per transaction. Per patient:
  1–3 lesions (first a cervical node, then a node or a lung lesion, then a bone lesion; baseline axes; stored
  target / non-target designation), one implant procedure (day 0; implants spread uniformly over the last
  three years so that on ``today`` a realistic share of protocol visits are due, overdue or recently missed)
  with a pre and a post hand-entered plan and their GTV row (Table 4), a baseline visit 3–20 days before
  the implant, the m2 / m6 / m12 visits whose window has opened (about 90 % recorded once the window has
  closed, 35 % while it is open), 2 unscheduled visits, a measurement of every lesion at every visit, Tg, TgAb
  and TSH at every visit, an RTOG skin score at m2, a few CTCAE complications and new therapies, the RAIR
  classification. The derived rows (``VisitResult``, ``LesionVisitResult``, ``FollowUpResult``) are written
  with plausible values computed here (a simplified RECIST: CR when every target is a node under 10 mm short
  axis, PD at ≥ +20 % and ≥ 5 mm over the nadir, PR at ≤ −30 % from baseline, else SD), not by
  ``assessment.services.recompute_followup``: that runs the pure cores for one patient at a time and is what a
  save costs, not what a read costs. ``bench/dashboard.py`` times it separately on a sample of these patients
  and checks that the engine gives the same categories.

Deterministic for a given ``seed``, ``n`` and ``today``. No history rows are written (``bulk_create`` bypasses
django-simple-history), which the read paths do not use.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PATIENTS_PER_CHUNK = 1000
SITES = (("BNA", "Bench site A"), ("BNB", "Bench site B"), ("BNC", "Bench site C"), ("BND", "Bench site D"))
USER_PASSWORD = "bench-pass-123"
IMPLANT_SPAN_DAYS = 3 * 365
FAMILY = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun", "Ma", "Zhu")
GIVEN = ("Wei", "Jun", "Fang", "Na", "Min", "Jing", "Lei", "Yan", "Hao", "Mei", "Tao", "Ying")
HISTOLOGY = (("papillary", 0.80), ("follicular", 0.12), ("oncocytic", 0.04), ("poorly_differentiated", 0.04))


def use_database(path: Path) -> None:
    """Point Django at the SQLite file ``path`` (``DATABASE_URL``) and set it up. Call once, before models."""
    os.environ["DATABASE_URL"] = f"sqlite:///{Path(path).resolve()}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Benchmarks run on a developer's machine: the development values make run sets (production is the default).
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SEEDTRACK_DEMO", "1")
    import django

    django.setup()


def fresh_database(path: Path) -> float:
    """Delete ``path`` (and its journal files) and migrate a new database there; returns the seconds taken."""
    from django.core.management import call_command
    from django.db import connection

    connection.close()
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    t0 = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    return time.perf_counter() - t0


def make_sites(codes: Sequence[tuple[str, str]] = SITES) -> list:
    from registry.models import Site

    return [Site.objects.get_or_create(code=code, defaults={"name": name})[0] for code, name in codes]


def make_users(sites: Sequence) -> dict[str, object]:
    """``nurse`` (first site), ``physician`` (every site) and ``datamanager`` (all sites by role)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from registry import roles
    from registry.models import SiteMembership

    roles.ensure_roles()
    User = get_user_model()
    wanted = {"nurse": (roles.NURSE, sites[:1]), "physician": (roles.PHYSICIAN, sites),
              "datamanager": (roles.DATA_MANAGER, ())}
    users = {}
    for username, (role, member_of) in wanted.items():
        user, created = User.objects.get_or_create(username=username,
                                                   defaults={"is_staff": role == roles.DATA_MANAGER})
        if created:
            user.set_password(USER_PASSWORD)
            user.save()
            user.groups.add(Group.objects.get(name=role))
            for site in member_of:
                SiteMembership.objects.get_or_create(user=user, site=site)
        users[username] = user
    return users


@dataclass
class BuildReport:
    n_patients: int
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class _Ids:
    """Explicit primary keys (a fresh database), so rows can reference each other before they are inserted."""

    counters: dict[str, int] = field(default_factory=dict)

    def next(self, name: str) -> int:
        self.counters[name] = self.counters.get(name, 0) + 1
        return self.counters[name]


def _d1(x: float) -> Decimal:
    return Decimal(f"{x:.1f}")


def _category(change_from_baseline: float | None, sum_mm: float, nadir_mm: float, nodes_below_10: bool = False) -> str:
    """Simplified RECIST 1.1 target response (enough for plausible derived rows; not the engine).

    ``nodes_below_10``: every target is a node with short axis < 10 mm (CR without 0 mm, RECIST §1.6)."""
    if change_from_baseline is None:
        return "NE"
    if nodes_below_10:
        return "CR"
    if sum_mm - nadir_mm >= 5 and nadir_mm > 0 and (sum_mm - nadir_mm) / nadir_mm >= 0.20:
        return "PD"
    if change_from_baseline <= -30:
        return "PR"
    return "SD"


_BOR_RANK = {"CR": 0, "PR": 1, "SD": 2, "PD": 3, "NE": 4}


class _Builder:
    def __init__(self, today: dt.date, seed: int, sites: Sequence) -> None:
        from assessment.services import schedule_settings
        from dosimetry.models import SeedModel

        self.today = today
        self.rng = np.random.default_rng(seed)
        self.sites = list(sites)
        self.site_numbers = {s.pk: 0 for s in self.sites}
        self.schedule = schedule_settings()
        self.seed_model = SeedModel.objects.order_by("code").first()
        self.ids = _Ids()
        self.now = dt.datetime.now(dt.UTC)
        self.rows: dict[str, list] = {}

    def add(self, obj) -> None:
        self.rows.setdefault(type(obj).__name__, []).append(obj)

    def flush(self, report: BuildReport) -> None:
        """Insert every pending row, parents before children, in one transaction."""
        from django.db import transaction

        order = ("Patient", "RairClassification", "Lesion", "LesionDesignation", "ImplantProcedure",
                 "ImplantProcedure_lesions", "DosePlan", "StructureDose", "Visit", "Measurement", "LabResult",
                 "Toxicity", "NewTherapy", "VisitResult", "LesionVisitResult", "FollowUpResult")
        with transaction.atomic():
            for name in order:
                objs = self.rows.pop(name, [])
                if objs:
                    type(objs[0]).objects.bulk_create(objs, batch_size=2000)
                    report.rows[name] = report.rows.get(name, 0) + len(objs)
        assert not self.rows, f"rows of unknown models left: {list(self.rows)}"

    # --- one patient -------------------------------------------------------------------------------------------

    def patient(self, index: int) -> None:
        from assessment.schedule import visit_schedule
        from registry.models import Patient, RairClassification

        rng = self.rng
        site = self.sites[index % len(self.sites)]
        self.site_numbers[site.pk] += 1
        pid = self.ids.next("patient")
        implant = self.today - dt.timedelta(days=int(rng.integers(3, IMPLANT_SPAN_DAYS)))
        age_years = float(rng.uniform(22, 80))
        birth = implant - dt.timedelta(days=int(age_years * 365.25))
        diagnosis = implant - dt.timedelta(days=int(rng.integers(3 * 365, 10 * 365)))
        diagnosis = max(diagnosis, birth + dt.timedelta(days=18 * 365))
        histology = rng.choice([h for h, _ in HISTOLOGY], p=[p for _, p in HISTOLOGY])
        m1 = bool(rng.random() < 0.15)
        n_lesions = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.20]))
        male = bool(rng.random() < 0.3)
        self.add(Patient(
            pk=pid, site_id=site.pk, study_id=f"{site.code}-{self.site_numbers[site.pk]:05d}",
            record_number=f"B{pid:07d}", family_name=FAMILY[pid % len(FAMILY)], given_name=GIVEN[pid % len(GIVEN)],
            sex="M" if male else "F", birth_date=birth, diagnosis_date=diagnosis, histology=str(histology),
            surgery_extent="total", surgery_date=diagnosis + dt.timedelta(days=20), central_neck_dissection=True,
            lateral_neck_dissection="unilateral", ata_initial_risk="high" if m1 else "intermediate",
            t_category="T2", n_category="N1b", m_category="M1" if m1 else "M0", tsh_suppression=True,
            stage="IV B" if m1 else "II", stage_reason="bench", stage_rule_set="AJCC8", eligibility_status="eligible",
            lesion_seq=n_lesions, derived_at=self.now,
        ))
        self.add(RairClassification(
            patient_id=pid, rair2_present=True, rair2_date=implant - dt.timedelta(days=230),
            rair2_evidence="No uptake on the last post-therapy scan", status="refractory",
            deciding=["RAIR-2"], flags=[], rule_set="ATA2015", computed_at=self.now,
        ))
        lesions = self._lesions(pid, n_lesions)
        proc_id = self._procedure(pid, implant, lesions)

        # visits: baseline, the protocol visits whose window has opened, 2 unscheduled
        dates: dict[dt.date, str] = {implant - dt.timedelta(days=int(rng.integers(3, 21))): "baseline"}
        for sv in visit_schedule(implant, (), self.today, self.schedule):
            if sv.timepoint == "baseline" or sv.window_start > self.today:
                continue
            closed = sv.window_end < self.today
            if rng.random() < (0.9 if closed else 0.35):
                last = min(sv.window_end, self.today)
                span = (last - sv.window_start).days
                when = sv.window_start + dt.timedelta(days=int(rng.integers(0, span + 1)))
                dates.setdefault(when, sv.timepoint)
        followed_days = (self.today - implant).days
        if followed_days > 20:
            for _ in range(2):
                when = implant + dt.timedelta(days=int(rng.integers(1, followed_days + 1)))
                dates.setdefault(when, "unscheduled")
        therapy_date = None
        if followed_days > 240 and rng.random() < 0.05:
            therapy_date = implant + dt.timedelta(days=int(rng.integers(210, followed_days + 1)))
            self.add(_model("NewTherapy")(patient_id=pid, kind=str(rng.choice(["tki", "rai", "ebrt"])),
                                          start_date=therapy_date, notes=""))
        self._visits(pid, proc_id, implant, sorted(dates.items()), lesions, therapy_date)

    def _lesions(self, pid: int, n: int) -> list[dict]:
        from assessment.models import LesionDesignation
        from registry.models import Lesion

        rng = self.rng
        out = []
        for k in range(n):
            lid = self.ids.next("lesion")
            if k == 0 or (k == 1 and rng.random() < 0.6):
                region, extra, nodal = "cervical_node", {"cervical_level": str(rng.choice(["II", "III", "IV", "VI"])),
                                                         "side": str(rng.choice(["left", "right"]))}, True
            elif k == 1:
                region, extra, nodal = "lung", {"lung_lobe": str(rng.choice(["RUL", "RLL", "LLL"]))}, False
            else:
                region, extra, nodal = "bone", {"site_detail": "T8 vertebra"}, False
            long_mm = float(rng.uniform(22, 42))
            short_mm = long_mm * float(rng.uniform(0.7, 0.85))
            third_mm = long_mm * float(rng.uniform(0.8, 0.95))
            enhancement = str(rng.choice(["none", "mild", "marked"]))
            self.add(Lesion(
                pk=lid, patient_id=pid, label=f"L{k + 1}", region=region, nodal=nodal, biopsy_result="",
                iodine_uptake="no", fdg_avid="yes", enhancement=enhancement, baseline_long_mm=_d1(long_mm),
                baseline_short_mm=_d1(short_mm), baseline_third_mm=_d1(third_mm), **extra,
            ))
            role = "target" if k < 2 else "non-target"  # ≤ 2 nodes per organ, ≤ 5 in all
            self.add(LesionDesignation(lesion_id=lid, role=role))
            out.append({"pk": lid, "label": f"L{k + 1}", "nodal": nodal, "role": role, "enhancement": enhancement,
                        "axes": (long_mm, short_mm, third_mm)})
        return out

    def _procedure(self, pid: int, implant: dt.date, lesions: list[dict]) -> int:
        from dosimetry.models import DosePlan, ImplantProcedure, StructureDose, hi_from

        rng = self.rng
        proc_id = self.ids.next("procedure")
        seeds = int(rng.integers(4, 40))
        rx = Decimal(str(int(rng.choice([110, 120, 120, 130, 140]))))
        self.add(ImplantProcedure(
            pk=proc_id, patient_id=pid, date=implant, operator="Dr Bench", anaesthesia="local",
            needles=max(1, seeds // 3), seed_model_id=self.seed_model.pk, seeds_implanted=seeds,
            activity_per_seed_mbq=_d1(float(rng.uniform(14.8, 29.6))),
            activity_calibration_date=implant - dt.timedelta(days=3), prescription_gy=rx,
        ))
        through = ImplantProcedure.lesions.through
        for les in lesions:
            self.rows.setdefault("ImplantProcedure_lesions", []).append(
                through(implantprocedure_id=proc_id, lesion_id=les["pk"]))
        volume = sum(math.pi / 6 * a * b * c / 1000 for a, b, c in (les["axes"] for les in lesions))
        for kind, (d90_mean, d90_sd) in (("pre", (125.0, 16.9)), ("post", (123.8, 31.8))):
            plan_id = self.ids.next("plan")
            self.add(DosePlan(pk=plan_id, procedure_id=proc_id, kind=kind, source="manual",
                              seed_count=seeds + (1 if kind == "pre" and rng.random() < 0.05 else 0),
                              prescription_gy=rx, tps_name="bench", created_at=self.now))
            d90 = float(np.clip(rng.normal(d90_mean, d90_sd), 40, 260))
            v100 = float(np.clip(rng.normal(95 if kind == "pre" else 92, 4), 60, 100))
            v150 = float(np.clip(rng.normal(66 if kind == "pre" else 58, 17), 5, v100))
            self.add(StructureDose(
                plan_id=plan_id, role="GTV", name="GTV",
                volume_cm3=round(volume * (1 if kind == "pre" else float(rng.uniform(0.93, 1.07))), 2),
                d90_gy=round(d90, 2), d100_gy=round(d90 * 0.6, 2), dmin_gy=round(d90 * 0.6, 2),
                dmean_gy=round(d90 * 1.55, 2), dmax_gy=round(d90 * 4.2, 2), v100_pct=round(v100, 1),
                v150_pct=round(v150, 1), v200_pct=round(v150 * 0.55, 1), hi=hi_from(v100, v150), dvh={},
            ))
        return proc_id

    def _visits(self, pid: int, proc_id: int, implant: dt.date, visits: list[tuple[dt.date, str]],
                lesions: list[dict], therapy_date: dt.date | None) -> None:
        from assessment.models import (
            FollowUpResult,
            LabResult,
            LesionVisitResult,
            Measurement,
            Toxicity,
            Visit,
            VisitResult,
        )
        from assessment.toxicity import CTCAE_TERMS, ctcae_grade, rtog_grade

        rng = self.rng
        # trajectory: responders shrink, stable stay, progressors grow after ~4 months
        kind = rng.choice(["responder", "stable", "progressor"], p=[0.55, 0.33, 0.12])
        floor = {"responder": rng.uniform(0.35, 0.7), "stable": rng.uniform(0.8, 1.0),
                 "progressor": rng.uniform(0.75, 0.95)}[kind]
        tg0 = float(rng.lognormal(math.log(50), 1.1))
        base_sum = nadir = None
        base_vol = None
        lesion_base: dict[int, tuple[float, float]] = {}
        lesion_nadir: dict[int, float] = {}
        responses: list[tuple[int, str, float | None, dt.date]] = []
        rtog_max = ctcae_max = None
        last_ata = ("", "")
        for when, timepoint in visits:
            vid = self.ids.next("visit")
            day = (when - implant).days
            self.add(Visit(pk=vid, patient_id=pid, procedure_id=proc_id, timepoint=timepoint, visit_date=when,
                           modality="ct", reader="Dr Read"))
            t = max(day, 0) / 30.4  # months since implant
            ratio = 1.0 - (1.0 - floor) * (1 - math.exp(-t / 2.5))
            if kind == "progressor" and t > 4:
                ratio *= 1 + 0.12 * (t - 4)
            sum_mm, vol_total = 0.0, 0.0
            nodes_below_10 = True
            for les in lesions:
                a, b, c_ = (x * ratio * float(rng.uniform(0.96, 1.04)) for x in les["axes"])
                b = min(b, a)
                self.add(Measurement(
                    visit_id=vid, lesion_id=les["pk"], qualifier="measured", long_mm=_d1(a), short_mm=_d1(b),
                    third_mm=_d1(c_), non_target_status="present" if les["role"] == "non-target" else "",
                    enhancement=les["enhancement"] if timepoint == "baseline" else "", mda_findings=[],
                ))
                size = round(b if les["nodal"] else a, 1)
                vol = math.pi / 6 * round(a, 1) * round(b, 1) * round(c_, 1) / 1000
                vol_total += vol
                if les["role"] == "target":
                    sum_mm += size
                    nodes_below_10 = nodes_below_10 and les["nodal"] and size < 10
                if timepoint == "baseline":
                    lesion_base[les["pk"]] = (size, vol)
                    lesion_nadir[les["pk"]] = size
                    row = LesionVisitResult(visit_id=vid, lesion_id=les["pk"], size_mm=_d1(size), nadir_mm=_d1(size),
                                            volume_cm3=round(vol, 3))
                else:
                    b_size, b_vol = lesion_base[les["pk"]]
                    l_nadir = lesion_nadir[les["pk"]]
                    chg = (size - b_size) / b_size * 100
                    resp = _category(chg, size, l_nadir, les["nodal"] and size < 10)
                    lesion_nadir[les["pk"]] = min(l_nadir, size)
                    row = LesionVisitResult(
                        visit_id=vid, lesion_id=les["pk"], size_mm=_d1(size), nadir_mm=_d1(l_nadir),
                        volume_cm3=round(vol, 3), volume_change_pct=round((vol - b_vol) / b_vol * 100, 2),
                        response=resp, reason=f"{resp}: {size:.1f} mm, {chg:+.1f} % from baseline {b_size:.1f} mm",
                    )
                self.add(row)
            sum_mm = round(sum_mm, 1)
            if timepoint == "baseline":
                base_sum = nadir = sum_mm
                base_vol = vol_total
                self.add(VisitResult(
                    visit_id=vid, rule_set="RECIST1.1", day=day, is_baseline=True, sum_mm=_d1(sum_mm),
                    assessed_sum_mm=_d1(sum_mm), nadir_mm=_d1(sum_mm), reason=f"baseline sum {sum_mm:.1f} mm",
                    flags=[], counts_for_bor=False, volume_cm3=round(vol_total, 3), computed_at=self.now,
                ))
            else:
                chg = (sum_mm - base_sum) / base_sum * 100
                target = _category(chg, sum_mm, nadir, nodes_below_10)
                has_nt = any(les["role"] == "non-target" for les in lesions)
                overall = "PR" if target == "CR" and has_nt else target  # non-targets still present
                reason = (f"{overall}: target {target}, sum {sum_mm:.1f} mm, {chg:+.1f} % from baseline {base_sum:.1f} mm, "
                          f"nadir {nadir:.1f} mm")
                ata = ("STRUCTURAL_INCOMPLETE", "Structural incomplete: disease visible on imaging "
                       f"(RECIST overall {overall})")
                counts = therapy_date is None or when <= therapy_date
                self.add(VisitResult(
                    visit_id=vid, rule_set="RECIST1.1", day=day, is_baseline=False, sum_mm=_d1(sum_mm),
                    assessed_sum_mm=_d1(sum_mm), change_from_baseline_pct=round(chg, 2), nadir_mm=_d1(nadir),
                    change_from_nadir_pct=round((sum_mm - nadir) / nadir * 100, 2), target=target,
                    non_target="NON_CR_NON_PD" if has_nt else "NA", new_lesions="no", overall=overall,
                    reason=reason, flags=[], counts_for_bor=counts, volume_cm3=round(vol_total, 3),
                    volume_change_pct=round((vol_total - base_vol) / base_vol * 100, 2), ata_category=ata[0],
                    ata_reason=ata[1], ata_rule_set="ATA2015", computed_at=self.now,
                ))
                if counts:
                    responses.append((day, overall, round(chg, 2), when))
                last_ata = ata
                nadir = min(nadir, sum_mm)
            # labs: suppressed Tg (a few below the limit), negative TgAb, TSH
            tg = tg0 * (ratio ** 3) * float(rng.lognormal(0, 0.25))
            below = tg < 0.2
            self.add(LabResult(
                patient_id=pid, visit_id=vid, sample_date=when, analyte="tg", qualifier="<" if below else "=",
                value=Decimal("0.2") if below else Decimal(f"{tg:.2f}"), unit="ng/mL",
                value_std=0.2 if below else round(tg, 2), assay="Roche Elecsys Tg II", loq=Decimal("0.2"),
                tsh_state="suppressed",
            ))
            self.add(LabResult(
                patient_id=pid, visit_id=vid, sample_date=when, analyte="tgab", qualifier="<", value=Decimal("1"),
                unit="IU/mL", value_std=1.0, assay="Roche Elecsys anti-Tg", tgab_cutoff_iu_ml=Decimal("4"),
            ))
            tsh = float(rng.uniform(0.02, 0.5))
            self.add(LabResult(patient_id=pid, visit_id=vid, sample_date=when, analyte="tsh", qualifier="=",
                               value=Decimal(f"{tsh:.3f}"), unit="mIU/L", value_std=round(tsh, 3)))
            if timepoint == "m2":
                grade = int(rng.choice([0, 1, 2], p=[0.6, 0.35, 0.05]))
                g = rtog_grade(grade, days=day)
                self.add(Toxicity(patient_id=pid, procedure_id=proc_id, visit_id=vid, kind="rtog_skin",
                                  onset_date=when, grade=grade, scale=g.scale, description=g.description[:200],
                                  rule_set=g.rule_set, days_since_implant=day))
                rtog_max = grade if rtog_max is None else max(rtog_max, grade)
        if rng.random() < 0.03:
            term = CTCAE_TERMS["postoperative hemorrhage"].term
            g = ctcae_grade(term, 1)
            self.add(Toxicity(patient_id=pid, procedure_id=proc_id, kind="ctcae", onset_date=implant, grade=1,
                              ctcae_term=term, scale=g.scale, description=g.description[:200], rule_set=g.rule_set,
                              days_since_implant=0))
            ctcae_max = 1
        if responses:
            bor = min((r for _, r, _, _ in responses), key=_BOR_RANK.__getitem__)
            confirmed = bor
            if bor in ("CR", "PR"):  # confirmed by a CR/PR at least 28 days later
                prs = [w for _, r, _, w in responses if r in ("CR", "PR")]
                confirmed = bor if (prs[-1] - prs[0]).days >= 28 else "SD"
            best = min(c for _, _, c, _ in responses)
        else:
            bor = confirmed = "NE"
            best = None
        self.add(FollowUpResult(
            patient_id=pid, rule_set="RECIST1.1", mode="strict", measurable_disease=True, bor_unconfirmed=bor,
            bor_unconfirmed_reason=f"best response {bor}", bor_confirmed=confirmed,
            bor_confirmed_reason=f"best confirmed response {confirmed}", best_change_pct=best, error="", flags=[],
            tg_trend="declining" if kind == "responder" else "stable", tg_dt_text="bench",
            ata_category=last_ata[0], ata_reason=last_ata[1], max_rtog_grade=rtog_max, max_ctcae_grade=ctcae_max,
            toxicity_rule_sets="RTOG-EORTC-1995, CTCAE5", computed_at=self.now,
        ))


def _model(name: str):
    from django.apps import apps

    return apps.get_model("assessment", name)


def build_cohort(n_patients: int, *, today: dt.date, sites: Sequence, seed: int = 20240601,
                 progress=None) -> BuildReport:
    """Write ``n_patients`` synthetic patients with facts and derived rows (see the module docstring)."""
    report = BuildReport(n_patients)
    builder = _Builder(today, seed, sites)
    t0 = time.perf_counter()
    for start in range(0, n_patients, PATIENTS_PER_CHUNK):
        for i in range(start, min(n_patients, start + PATIENTS_PER_CHUNK)):
            builder.patient(i)
        builder.flush(report)
        if progress is not None:
            progress(min(n_patients, start + PATIENTS_PER_CHUNK), time.perf_counter() - t0)
    # next study number per site, as patient_create would have left it
    from registry.models import Site

    for site in sites:
        Site.objects.filter(pk=site.pk).update(next_study_number=builder.site_numbers[site.pk] + 1)
    report.seconds = time.perf_counter() - t0
    return report
