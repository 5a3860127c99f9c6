"""Demo implant procedures for the synthetic cohort: one per patient, 226 seeds in all (2–30 per lesion),
Rx 110–140 Gy, pre and post plans shaped like the index study's Table 4, and one patient whose plans are imported
from DICOM RT files written here with pydicom (CT-like grid, RTSTRUCT with a GTV, RT Plan with seeds, RTDOSE from
the TG-43 engine), so the import path runs end to end in ``make run``.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from demo import dicom_synth
from dosimetry import services, tg43
from dosimetry.dvh import DoseGrid, Structure, summary
from dosimetry.models import ImplantProcedure, SeedModel
from registry.models import Patient

TOTAL_SEEDS = 226
DEVIATIONS = {5: "Patient movement during needle placement", 23: "Large vessel next to the planned track"}
# Table 4 of the index study (GTV): mean, SD — pre, then post. V100 is not reported there: plausible values.
TABLE4 = {
    "d90_gy": ((124.978, 16.864), (123.788, 31.820)),
    "d100_gy": ((80.858, 23.300), (68.815, 13.818)),
    "v150_pct": ((66.5, 17.7), (58.5, 18.4)),
    "v100_pct": ((95.5, 2.5), (92.0, 4.5)),
}


def _seed_counts(n: int, rng: np.random.Generator) -> list[int]:
    """n counts between 2 and 30 summing to TOTAL_SEEDS, skewed like lymph-node implants (most need few)."""
    weights = rng.lognormal(0, 0.9, n)
    counts = np.full(n, 2)
    remaining = TOTAL_SEEDS - counts.sum()
    while remaining > 0:
        i = rng.choice(n, p=weights / weights.sum())
        if counts[i] < 30:
            counts[i] += 1
            remaining -= 1
    return [int(c) for c in counts]


def _uniform_scores(n: int, rng: np.random.Generator) -> np.ndarray:
    """Evenly spread, standardised scores (mean 0, SD 1, |z| ≤ √3) in random order: bounded tails keep every
    plan's metrics consistent (V150 ≤ V100 ≤ 100, D100 ≤ D90) while matching the study's mean ± SD exactly."""
    z = np.linspace(-1, 1, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return rng.permutation(z)


def add_demo_procedures(author, rng_seed: int = 20170110) -> int:
    rng = np.random.default_rng(rng_seed)
    patients = list(Patient.objects.filter(site__code__in=["NTC", "DLH"]).order_by("pk")
                    .prefetch_related("eligibility_assessments", "lesions"))
    if not patients or ImplantProcedure.objects.filter(patient__in=patients).exists():
        return 0
    n = len(patients)
    seeds = _seed_counts(n, rng)
    z_pre, z_post = _uniform_scores(n, rng), _uniform_scores(n, rng)
    study_seed = SeedModel.objects.get(code="STUDY-4.5TI")
    dicom_patient = int(np.argmin(np.abs(np.array(seeds) - 12)))  # a mid-sized implant
    created = 0
    for i, patient in enumerate(patients):
        assessment = patient.eligibility_assessments.all()[0]
        lesion = patient.lesions.all()[0]
        implant = assessment.planned_implant_date
        rx = Decimal(str(int(rng.choice([110, 120, 120, 130, 140]))))
        activity = Decimal(str(round(float(rng.uniform(14.8, 29.6)), 1)))
        planned = seeds[i] + (1 if i in DEVIATIONS else 0)
        procedure, _ = services.procedure_save(user=author, patient=patient, lesions=[lesion], data={
            "date": implant, "operator": ["Dr Zhao", "Dr Liu", "Dr Sun"][i % 3],
            "ct_scanner": "Philips Brilliance 16", "anaesthesia": "local", "positioning_aids": "vacuum cushion",
            "needles": max(1, math.ceil(seeds[i] / 3)), "seed_model": study_seed, "seeds_implanted": seeds[i],
            "activity_per_seed_mbq": activity, "activity_calibration_date": implant - dt.timedelta(days=3),
            "prescription_gy": rx, "deviation_from_plan": i in DEVIATIONS, "deviation_reason": DEVIATIONS.get(i, ""),
        })
        if i == dicom_patient:
            _dicom_plans(author, procedure, float(lesion.volume_cm3), float(activity), rng)
        else:
            volume = float(lesion.volume_cm3)
            for kind, z, which, count in (("pre", z_pre, 0, planned), ("post", z_post, 1, seeds[i])):
                m = {key: stats[which][0] + stats[which][1] * z[i] for key, stats in TABLE4.items()}
                m["v100_pct"] = min(m["v100_pct"], 100.0)
                services.plan_save(user=author, procedure=procedure, kind=kind, source="manual", plan_data={
                    "seed_count": count, "prescription_gy": rx, "tps_name": "KLSIRPS-3D (demo)",
                }, structures=[{
                    "role": "GTV", "name": "GTV",
                    "volume_cm3": round(volume * (1 if kind == "pre" else float(rng.uniform(0.93, 1.07))), 2),
                    "d90_gy": round(m["d90_gy"], 2), "d100_gy": round(m["d100_gy"], 2),
                    "dmin_gy": round(m["d100_gy"], 2), "dmean_gy": round(m["d90_gy"] * 1.55, 2),
                    "dmax_gy": round(m["d90_gy"] * 4.2, 2), "v100_pct": round(m["v100_pct"], 1),
                    "v150_pct": round(m["v150_pct"], 1), "v200_pct": round(m["v150_pct"] * 0.55, 1),
                }])
        created += 1
    return created


def _seed_positions(n: int, radius_cm: float, rng: np.random.Generator) -> np.ndarray:
    """n seed centres spread inside a sphere of the given radius (needle tracks along z), centred at 0."""
    pts: list[np.ndarray] = []
    while len(pts) < n:
        p = rng.uniform(-radius_cm, radius_cm, 3) * 0.7
        if np.linalg.norm(p) <= 0.7 * radius_cm and all(np.linalg.norm(p - q) >= 0.45 for q in pts):
            pts.append(p)
    return np.array(pts)


def _dicom_plans(author, procedure: ImplantProcedure, volume_cm3: float, activity_mbq: float,
                 rng: np.random.Generator) -> None:
    """Write a pre-plan and a post-implant export with pydicom and import both through the real service."""
    model = procedure.seed_model.core()
    radius = (3 * volume_cm3 / (4 * math.pi)) ** (1 / 3)
    axis = np.arange(-4.0, 4.0001, 0.2)  # 2 mm dose grid over an 8 cm neck region, GTV at the origin
    frame_uid, study_uid = generate_uid(), generate_uid()
    planned = _seed_positions(procedure.seeds_implanted, radius, rng)
    implant_at = dt.datetime.combine(procedure.date, dt.time(12, 0))
    reference = dt.datetime.combine(procedure.activity_calibration_date, dt.time(12, 0))
    # Choose the seed activity (within the study's 14.8–29.6 MBq) that brings the planned GTV D90 near 1.05 × Rx,
    # as a planner would, and record it on the procedure.
    gtv = Structure("GTV", dicom_synth.sphere_contours((0, 0, 0), radius, np.arange(-radius + 0.1, radius, 0.2), 96))
    unit = tg43.dose_rate_grid_cgy_per_h(planned, np.tile([0.0, 0.0, 1.0], (len(planned), 1)),
                                         np.ones(len(planned)), (axis, axis, axis), model)
    unit_total = tg43.total_dose_cgy_from_initial_rate(unit, model.half_life_days).transpose(2, 1, 0) / 100
    d90_per_u = summary(gtv, DoseGrid(unit_total, axis, axis, axis), 1.0, include_conformity=False)["d90_gy"]
    decay = tg43.decay_factor((implant_at - reference).total_seconds() / 86400, model.half_life_days)
    wanted_u = 1.05 * float(procedure.prescription_gy) / d90_per_u / decay
    activity_mbq = float(np.clip(tg43.apparent_activity_mbq_from_air_kerma_strength_u(wanted_u), 14.8, 29.6))
    services.procedure_save(user=author, patient=procedure.patient, lesions=procedure.lesions.all(),
                            procedure=procedure, data={"activity_per_seed_mbq": Decimal(f"{activity_mbq:.1f}")})
    strength = float(tg43.air_kerma_strength_u_from_apparent_activity_mbq(float(f"{activity_mbq:.1f}")))
    with tempfile.TemporaryDirectory() as tmp:
        for kind, positions in (("pre", planned), ("post", planned + rng.normal(0, 0.12, planned.shape))):
            paths = write_seed_export(
                Path(tmp) / kind, positions, strength, reference, implant_at, model,
                prescription_gy=float(procedure.prescription_gy), gtv_radius_cm=radius, axis_cm=axis,
                frame_uid=frame_uid, study_uid=study_uid, seed_code=procedure.seed_model.code,
                patient=dicom_synth.SyntheticPatient(procedure.patient.record_number,
                                                     f"{procedure.patient.family_name}^{procedure.patient.given_name}"))
            files = [(p.name, p.read_bytes()) for p in paths]
            imp = services.dicom_upload(user=author, procedure=procedure, kind=kind, files=files)
            services.dicom_import_confirm(user=author, imp=imp, mapping={"GTV_L1": "GTV", "Skin": "skin"},
                                          run_async=False)


def write_seed_export(
    folder: Path, positions_cm: np.ndarray, strength_u: float, reference: dt.datetime, implant_at: dt.datetime,
    model, *, prescription_gy: float, gtv_radius_cm: float, axis_cm: np.ndarray, frame_uid: str, study_uid: str,
    seed_code: str = "6711", with_ct: bool = True, patient: dicom_synth.SyntheticPatient | None = None,
) -> list[Path]:
    """Write a TPS-like export of a seed implant centred at the origin: CT-like series, RTSTRUCT (GTV_L1 sphere,
    Skin), RT Plan (seeds, S_K at ``reference``) and RTDOSE (TG-43 line source along z, total dose to infinity).
    Returns the RTDOSE, RTSTRUCT and RTPLAN paths. ``patient`` gives the PatientID / PatientName written into
    every object (default: the synthetic placeholder identity)."""
    folder.mkdir(parents=True, exist_ok=True)
    who = {"patient": patient} if patient is not None else {}
    n = len(axis_cm)
    if with_ct:
        dicom_synth.write_ct_series(folder / "ct", (n, n, n), (10.0 * float(axis_cm[1] - axis_cm[0]),) * 3,
                                    (0.0, 0.0, 0.0), frame_uid, study_uid,
                                    hu=dicom_synth.sphere_lesion_hu((0, 0, 0), gtv_radius_cm), **who)
    planes = np.arange(-gtv_radius_cm + 0.1, gtv_radius_cm, 0.2)
    half = float(axis_cm[-1]) - 0.4
    dicom_synth.write_rtstruct(folder / "rtstruct.dcm", {
        "GTV_L1": dicom_synth.sphere_contours((0, 0, 0), gtv_radius_cm, planes, 96),
        "Skin": dicom_synth.sphere_contours((0, 0, 0), half, np.arange(-half + 0.2, half - 0.19, 0.2), 96),
    }, frame_uid, study_uid, **who)
    s_k = tg43.decayed_strength_u(strength_u, reference, implant_at, model.half_life_days)
    rate = tg43.dose_rate_grid_cgy_per_h(positions_cm, np.tile([0.0, 0.0, 1.0], (len(positions_cm), 1)),
                                         np.full(len(positions_cm), s_k), (axis_cm, axis_cm, axis_cm), model)
    dose = tg43.total_dose_cgy_from_initial_rate(rate, model.half_life_days).transpose(2, 1, 0) / 100
    dicom_synth.write_rtdose(folder / "rtdose.dcm", dose.astype(np.float32), axis_cm, axis_cm, axis_cm,
                             frame_uid, study_uid, **who)
    dicom_synth.write_rtplan_seeds(
        folder / "rtplan.dcm", positions_cm, strength_u, reference, frame_uid=frame_uid, study_uid=study_uid,
        prescription_gy=prescription_gy, half_life_days=model.half_life_days, source_model_id=seed_code,
        source_manufacturer="demo", active_length_mm=round(model.active_length_cm * 10, 3), **who)
    return [folder / "rtdose.dcm", folder / "rtstruct.dcm", folder / "rtplan.dcm"]
