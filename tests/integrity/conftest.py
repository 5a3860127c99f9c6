"""A fully populated patient (every optional field set) built through the real services, and HTML form helpers.

``populated`` is parametrised: in variant "yes" the nullable yes/no facts are mostly True, in variant "no" mostly
False, so every yes/no field is exercised with a stored True and a stored False.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from html.parser import HTMLParser

import pytest


class PostedForm(HTMLParser):
    """What a browser submits for the first ``<form method="post">`` of a page that posts to the page itself: named inputs with their value,
    checked checkboxes / radios, the selected options of a select (else its first option), textareas (one
    leading newline dropped, line ends sent as CRLF); disabled controls and file inputs are left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.in_form = self.done = False
        self.data: list[tuple[str, str]] = []
        self.fields: set[str] = set()
        self._select = None  # [name, multiple, options, selected, disabled]
        self._option = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and not self.done and (a.get("method") or "").lower() == "post" and not a.get("action"):
            self.in_form = True  # the page's own form (the header's log-out form posts elsewhere)
            return
        if not self.in_form:
            return
        disabled = "disabled" in a
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "image", "file"):
                return
            self.fields.add(name)
            if disabled:
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.append((name, a.get("value") if a.get("value") is not None else "on"))
            else:
                self.data.append((name, a.get("value") or ""))
        elif tag == "select" and name:
            self.fields.add(name)
            self._select = [name, "multiple" in a, [], [], disabled]
        elif tag == "option" and self._select is not None:
            self._option = [a.get("value"), "", "selected" in a]
        elif tag == "textarea" and name:
            self.fields.add(name)
            self._textarea = [name, "", disabled]

    def handle_data(self, data):
        if self._option is not None:
            self._option[1] += data
        elif self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if not self.in_form:
            return
        if tag == "option" and self._option is not None:
            value, text, selected = self._option
            value = value if value is not None else text.strip()
            self._select[2].append(value)
            if selected:
                self._select[3].append(value)
            self._option = None
        elif tag == "select" and self._select is not None:
            name, multiple, options, selected, disabled = self._select
            if not disabled:
                chosen = selected if multiple else (selected[-1:] or options[:1])
                self.data.extend((name, v) for v in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text, disabled = self._textarea
            if text.startswith("\r\n"):
                text = text[2:]
            elif text.startswith("\n"):
                text = text[1:]
            if not disabled:
                self.data.append((name, text.replace("\r\n", "\n").replace("\n", "\r\n")))
            self._textarea = None
        elif tag == "form":
            self.in_form, self.done = False, True


def posted_form(html: str) -> PostedForm:
    parser = PostedForm()
    parser.feed(html)
    parser.close()
    return parser


def as_post(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


@pytest.fixture(params=["yes", "no"])
def populated(request, users, sites):
    """Patient with every optional field of every clinical record set, signed off (stage, eligibility, implant)."""
    from django.utils import timezone

    from assessment import services as fu
    from dosimetry import services as dosimetry
    from dosimetry.models import ImplantProcedure, SeedModel
    from registry import services

    yes = request.param == "yes"
    dm, physician = users["data_manager"], users["physician"]
    patient = services.patient_create(user=dm, site=sites["A"], data={
        "record_number": "MRN-FULL", "family_name": "O'Brien & Sons", "given_name": "Zoë", "sex": "F",
        "birth_date": dt.date(1960, 5, 17), "diagnosis_date": dt.date(2012, 3, 1), "histology": "other",
        "histology_other": "Tall-cell <variant>", "surgery_extent": "total", "surgery_date": dt.date(2012, 3, 20),
        "central_neck_dissection": yes, "lateral_neck_dissection": "unilateral", "ata_initial_risk": "high",
        "t_category": "T2", "n_category": "N1b", "m_category": "M1", "tsh_suppression": not yes,
    })
    node = services.lesion_save(user=dm, patient=patient, data={
        "region": "cervical_node", "cervical_level": "III", "side": "left", "lung_lobe": "", "nodal": True,
        "site_detail": "posterior to the IJV", "biopsy_date": dt.date(2017, 12, 5), "biopsy_result": "metastatic",
        "iodine_uptake": "no", "fdg_avid": "yes", "enhancement": "marked", "baseline_long_mm": D("28.0"),
        "baseline_short_mm": D("20.0"), "baseline_third_mm": D("24.0"), "baseline_volume_cm3": D("7.10"),
    })
    lung = services.lesion_save(user=dm, patient=patient, data={
        "region": "lung", "lung_lobe": "RUL", "nodal": False, "site_detail": "apical segment",
        "biopsy_date": dt.date(2017, 12, 6), "biopsy_result": "metastatic", "iodine_uptake": "no", "fdg_avid": "no",
        "enhancement": "mild", "baseline_long_mm": D("18.0"), "baseline_short_mm": D("14.0"),
        "baseline_third_mm": D("15.0"), "baseline_volume_cm3": D("2.00"),
    })
    bone = services.lesion_save(user=dm, patient=patient, data={
        "region": "bone", "nodal": False, "site_detail": "T10 vertebral body", "side": "right",
        "biopsy_date": dt.date(2017, 12, 7), "biopsy_result": "nondiagnostic", "iodine_uptake": "unknown",
        "fdg_avid": "yes", "enhancement": "none", "baseline_long_mm": D("22.0"), "baseline_short_mm": D("16.0"),
        "baseline_third_mm": D("12.0"), "baseline_volume_cm3": D("2.20"),
    })
    lesions = [node, lung, bone]
    for day, mci in ((dt.date(2013, 1, 10), "160"), (dt.date(2014, 2, 10), "150.5"), (dt.date(2015, 3, 10), "200"),
                     (dt.date(2016, 4, 10), "160")):
        services.iodine_course_save(user=dm, patient=patient, data={
            "date": day, "activity_value": D(mci), "activity_unit": "mCi", "notes": f"course of {day:%Y}"},
            uptakes={node.pk: "no", lung.pk: "yes" if yes else "no", bone.pk: "unknown"})
    services.rair_update(user=dm, patient=patient, data={
        "rair1_present": not yes, "rair1_date": dt.date(2013, 2, 1), "rair1_evidence": "first post-therapy scan",
        "rair2_present": True, "rair2_date": dt.date(2016, 6, 1), "rair2_evidence": "lost uptake",
        "rair3_present": yes, "rair3_date": dt.date(2016, 6, 2), "rair3_evidence": "mixed uptake",
        "rair4_present": False, "rair4_date": dt.date(2016, 6, 3), "rair4_evidence": "no progression on RAI",
        "fdg_avid": yes, "progression_within_12_months": not yes,
    })
    assessment = services.eligibility_save(user=dm, patient=patient, data={
        "assessment_date": dt.date(2018, 1, 25), "planned_implant_date": dt.date(2018, 2, 5),
        "labs_date": dt.date(2018, 1, 25),
        "wbc_value": D("5.20"), "wbc_unit": "×10⁹/L",
        "hemoglobin_value": D("13.1"), "hemoglobin_unit": "g/dL",
        "platelets_value": D("210.0"), "platelets_unit": "×10⁹/L",
        "pta_pct": D("92.0"), "inr": D("1.05"), "alt_u_per_l": D("30.0"), "alt_uln_u_per_l": D("40.0"),
        "ast_u_per_l": D("28.0"), "ast_uln_u_per_l": D("40.0"), "ecg": "abnormal_not_significant", "kps": 90,
        "tgab_iu_per_ml": D("12.00"), "tgab_cutoff_iu_per_ml": D("115.00"), "tgab_assay": "Roche Elecsys",
        "tg_qualifier": ">" if yes else "=", "tg_ug_per_l": D("35.50"),
        "biopsy_proven_metastasis": True, "lesion_without_iodine_uptake": yes,
        "severe_cardiopulmonary_insufficiency": not yes, "severe_hepatic_insufficiency": False,
        "severe_renal_insufficiency": False, "severe_coagulopathy": False, "cachexia": False,
        "concurrent_radio_or_chemotherapy": False, "immunotherapy": False,
    } if yes else {
        **_ELIGIBLE_NO_VARIANT,
    })
    if assessment.status != "incomplete":
        services.eligibility_sign_off(user=physician, assessment=assessment)
    patient.refresh_from_db()
    services.stage_sign_off(user=physician, patient=patient)

    procedure, _ = dosimetry.procedure_save(user=dm, patient=patient, lesions=lesions, data={
        "date": dt.date(2018, 2, 5), "operator": "Dr Test", "ct_scanner": "Siemens Definition AS",
        "anaesthesia": "sedation", "positioning_aids": "vacuum cushion", "needles": 6,
        "seed_model": SeedModel.objects.get(code="6711"), "seeds_implanted": 24,
        "activity_per_seed_mbq": D("25.90"), "activity_calibration_date": dt.date(2018, 1, 29),
        "prescription_gy": D("120.0"), "intraoperative_events": "Minor bleeding,\ncompressed 5 min.",
        "deviation_from_plan": yes, "deviation_reason": "one needle path blocked by a rib",
    })
    ImplantProcedure.objects.filter(pk=procedure.pk).update(signed_off_by=physician, signed_off_at=timezone.now())
    fu.designation_save(user=dm, patient=patient, roles={node.pk: "target", lung.pk: "target",
                                                        bone.pk: "non-target"})

    def labs(tg, tgab, tsh, state):
        return [
            {"analyte": "tg", "qualifier": tg[0], "value": D(tg[1]), "unit": "ng/mL", "assay": "Beckman Access",
             "loq": D("0.1"), "tsh_state": state},
            {"analyte": "tgab", "qualifier": "=", "value": D(tgab), "unit": "IU/mL", "assay": "Roche Elecsys",
             "loq": D("10"), "tgab_cutoff_iu_ml": D("115")},
            {"analyte": "tsh", "qualifier": "=", "value": D(tsh), "unit": "mIU/L", "assay": "Roche"},
        ]

    def m(long, short, third, **extra):
        return {"qualifier": "measured", "long_mm": D(long), "short_mm": D(short), "third_mm": D(third),
                "non_target_status": "", "enhancement": "marked", **extra}

    fu.visit_save(user=dm, patient=patient, data=fu.VisitInput(
        visit={"timepoint": "baseline", "visit_date": dt.date(2018, 1, 20), "modality": "ct",
               "slice_thickness_mm": D("1.5"), "reader": "Dr Radiologist", "imaging_nonspecific": yes,
               "notes": "Baseline CT.\nNo other findings."},
        measurements={node.pk: m("28.0", "20.0", "24.0"), lung.pk: m("18.0", "14.0", "15.0"),
                      bone.pk: {**m("22.0", "16.0", "12.0"), "non_target_status": "present"}},
        labs=labs(("=", "35.5"), "12", "0.05", "suppressed"),
    ))
    fu.visit_save(user=dm, patient=patient, data=fu.VisitInput(
        visit={"timepoint": "m2", "visit_date": dt.date(2018, 4, 5), "modality": "mri", "slice_thickness_mm": D("3.0"),
               "reader": "Dr Second", "imaging_nonspecific": not yes, "notes": "Two-month MRI."},
        measurements={node.pk: m("20.0", "13.0", "15.0", enhancement="mild"), lung.pk: m("12.0", "9.0", "9.0"),
                      bone.pk: {**m("22.0", "15.0", "12.0"), "non_target_status": "present", "mda_modality": "ct",
                                "mda_findings": ["sclerotic_rim", "lytic_partial_fill_in"], "flare_excluded": yes}},
        new_lesions=[{"site": "left supraclavicular", "certainty": "equivocal", "modality": "mri"}],
        labs=labs(("<", "0.2") if yes else ("=", "8.4"), "9", "0.08", "stimulated" if yes else "suppressed"),
        toxicities=[{"kind": "rtog_skin", "grade": 1},
                    {"kind": "ctcae", "ctcae_term": "Neck pain", "grade": 2, "specify": "",
                     "onset_date": dt.date(2018, 2, 10), "resolution_date": dt.date(2018, 3, 1),
                     "treatment": "paracetamol"}],
    ))
    fu.visit_save(user=dm, patient=patient, data=fu.VisitInput(
        visit={"timepoint": "m6", "visit_date": dt.date(2018, 8, 5), "modality": "ct", "slice_thickness_mm": D("1.0"),
               "reader": "Dr Third", "imaging_nonspecific": False, "notes": "Six months."},
        measurements={node.pk: m("14.0", "9.0", "10.0"), lung.pk: {"qualifier": "disappeared"},
                      bone.pk: {"qualifier": "measured", "non_target_status": "absent", "mda_modality": "xr",
                                "mda_findings": ["no_change"], "flare_excluded": not yes}},
        labs=labs(("=", "2.1"), "7", "0.1", "suppressed"),
        toxicities=[{"kind": "rtog_skin", "grade": 2}, {"kind": "rtog_subcutaneous", "grade": 1}],
    ))
    # where the patient stands, every field of it set: died after the 6-month visit
    fu.followup_status_save(user=dm, patient=patient, data={
        "status": "died", "status_date": dt.date(2018, 10, 2), "death_cause": "other",
        "death_cause_detail": "Myocardial infarction"})
    patient.refresh_from_db()
    return patient


_ELIGIBLE_NO_VARIANT = {
    "assessment_date": dt.date(2018, 1, 26), "planned_implant_date": dt.date(2018, 2, 4),
    "labs_date": dt.date(2018, 1, 24),
    "wbc_value": D("4800"), "wbc_unit": "/µL",
    "hemoglobin_value": D("128.0"), "hemoglobin_unit": "g/L",
    "platelets_value": D("180000"), "platelets_unit": "/µL",
    "pta_pct": D("85.5"), "inr": D("1.10"), "alt_u_per_l": D("22.0"), "alt_uln_u_per_l": D("40.0"),
    "ast_u_per_l": D("19.0"), "ast_uln_u_per_l": D("40.0"), "ecg": "normal", "kps": 80,
    "tgab_iu_per_ml": D("150.00"), "tgab_cutoff_iu_per_ml": D("115.00"), "tgab_assay": "Roche Elecsys",
    "tg_qualifier": "<", "tg_ug_per_l": D("0.20"),
    "biopsy_proven_metastasis": False, "lesion_without_iodine_uptake": False,
    "severe_cardiopulmonary_insufficiency": False, "severe_hepatic_insufficiency": True,
    "severe_renal_insufficiency": True, "severe_coagulopathy": True, "cachexia": True,
    "concurrent_radio_or_chemotherapy": True, "immunotherapy": True,
}
