"""TgAb at visit entry: the cut-off is prefilled from the patient's previous result with the same assay, a
different cut-off for the same assay is a warning, and "<10" with cut-off 115 is negative (never positive)."""

import datetime as dt
from decimal import Decimal

import pytest

from assessment import services
from assessment.models import LabResult, VisitResult
from registry import services as registry_services
from registry.overrides import Override, WarningsPending

ROCHE = "Roche Elecsys anti-Tg"


@pytest.fixture
def patient(procedure, users):
    """Eligibility TgAb 12 IU/mL on the Roche assay (cut-off 115) on 2018-02-01 = day −4; baseline visit."""
    p = procedure.patient
    registry_services.eligibility_save(user=users["nurse"], patient=p, assessment=p.eligibility_assessments.get(),
                                       data={"tgab_assay": ROCHE})
    les = p.lesions.get(label="L1")
    services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
        visit={"visit_date": dt.date(2018, 1, 25), "timepoint": "baseline", "modality": "ct"},
        measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("28"), "short_mm": Decimal("20"),
                               "third_mm": Decimal("24")}}))
    return p


def _post(p, tgab, cutoff, assay, when=dt.date(2018, 4, 5), short="8"):
    les = p.lesions.get(label="L1")
    return {
        "visit-timepoint": "m2", "visit-visit_date": when.isoformat(), "visit-modality": "ct",
        f"m{les.pk}-qualifier": "measured", f"m{les.pk}-long_mm": "9", f"m{les.pk}-short_mm": short,
        f"m{les.pk}-third_mm": "8",
        "lab-tg-result": "0.1", "lab-tg-unit": "ng/mL", "lab-tg-tsh_state": "suppressed", "lab-tg-assay": "Roche",
        "lab-tgab-result": tgab, "lab-tgab-unit": "IU/mL", "lab-tgab-tgab_cutoff_iu_ml": cutoff,
        "lab-tgab-assay": assay, "lab-tsh-unit": "mIU/L", "new0-modality": "ct", "new1-modality": "ct",
    }


def test_form_prefills_assay_and_cut_off_from_the_previous_result(client, login, users, patient):
    login(users["nurse"])
    r = client.get(f"/patients/{patient.pk}/visits/new/?timepoint=m2")
    form = r.context["forms"].labs[1]
    assert form.analyte == "tgab"
    assert form.initial["assay"] == ROCHE and form.initial["tgab_cutoff_iu_ml"] == Decimal("115")
    html = r.content.decode()
    assert 'id="tgab-assays"' in html and "Prefilled from the previous result with this assay" in html


def test_blank_cut_off_takes_the_typed_assays_previous_cut_off_and_lt10_is_negative(client, login, users, patient):
    login(users["nurse"])
    r = client.post(f"/patients/{patient.pk}/visits/new/", _post(patient, "<10", "", "roche  elecsys ANTI-tg"),
                    follow=True)
    assert r.status_code == 200
    lab = LabResult.objects.get(patient=patient, analyte="tgab", visit__timepoint="m2")
    assert (lab.qualifier, lab.value, lab.tgab_cutoff_iu_ml) == ("<", Decimal("10"), Decimal("115"))
    result = VisitResult.objects.get(visit=lab.visit)
    assert result.overall == "CR"
    # TgAb negative, so the Tg is interpreted: 0.1 < 0.2 with negative imaging is Excellent, not "TgAb positive"
    assert result.ata_category == "EXCELLENT", result.ata_reason
    assert "TgAb positive" not in result.ata_reason
    html = client.get(f"/visits/{lab.visit_id}/").content.decode()
    assert f"TgAb &lt; 10 IU/mL is below the assay cut-off 115 IU/mL ({ROCHE}): negative" in html  # known spelling


def test_without_assay_the_latest_results_assay_and_cut_off_are_used(client, login, users, patient):
    login(users["nurse"])
    client.post(f"/patients/{patient.pk}/visits/new/", _post(patient, "<10", "", ""))
    lab = LabResult.objects.get(patient=patient, analyte="tgab", visit__timepoint="m2")
    assert (lab.assay, lab.tgab_cutoff_iu_ml) == (ROCHE, Decimal("115"))


def test_censored_limit_above_the_cut_off_is_indeterminate_not_positive(client, login, users, patient):
    login(users["nurse"])
    client.post(f"/patients/{patient.pk}/visits/new/", _post(patient, "<200", "115", ROCHE))
    result = VisitResult.objects.get(visit__patient=patient, visit__timepoint="m2")
    assert result.ata_category == "INDETERMINATE"
    assert result.ata_reason == (
        "Indeterminate response: Tg not interpretable: TgAb < 200 IU/mL: the reported limit is above the assay cut-off "
        f"115 IU/mL ({ROCHE}), so the true value may lie on either side: indeterminate (counted neither positive "
        "nor negative)")


def test_a_different_cut_off_for_the_same_assay_is_a_warning_with_override(client, login, users, patient):
    login(users["nurse"])
    r = client.post(f"/patients/{patient.pk}/visits/new/", _post(patient, "<10", "4", ROCHE))
    html = r.content.decode()
    expected = (f"TgAb cut-off 4 IU/mL differs from 115 IU/mL recorded with the same assay ({ROCHE}) on day -4; "
                "one assay has one positivity cut-off.")
    assert expected in html and "A physician must confirm" in html
    assert not LabResult.objects.filter(patient=patient, visit__isnull=False, analyte="tgab",
                                        visit__timepoint="m2").exists()
    # a physician confirms the assay's new cut-off
    les = patient.lesions.get(label="L1")
    data = services.VisitInput(
        visit={"visit_date": dt.date(2018, 4, 5), "timepoint": "m2", "modality": "ct"},
        measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("9"), "short_mm": Decimal("8")}},
        labs=[{"analyte": "tgab", "qualifier": "<", "value": Decimal("10"), "unit": "IU/mL", "assay": ROCHE,
               "tgab_cutoff_iu_ml": Decimal("4")}])
    with pytest.raises(WarningsPending) as exc:
        services.visit_save(user=users["physician"], patient=patient, data=data)
    (w,) = exc.value.warnings
    assert w["code"] == "tgab_cutoff_differs" and w["message"].startswith(expected)
    v = services.visit_save(user=users["physician"], patient=patient, data=data,
                            override=Override("Lab changed the assay's cut-off in 2018", (w["message"],)))
    assert v.warnings == [w] and v.override_reason == "Lab changed the assay's cut-off in 2018"


def test_previous_assays_are_latest_first_one_per_assay(patient, users):
    services.lab_save(user=users["nurse"], patient=patient, data={
        "sample_date": dt.date(2018, 3, 1), "analyte": "tgab", "qualifier": "=", "value": Decimal("2"),
        "unit": "IU/mL", "assay": "Abbott Architect", "tgab_cutoff_iu_ml": Decimal("4.11")})
    known = services.previous_tgab_assays(patient)
    assert [(k.assay, k.cutoff_iu_ml, k.sample_date) for k in known] == [
        ("Abbott Architect", Decimal("4.11"), dt.date(2018, 3, 1)), (ROCHE, Decimal("115"), dt.date(2018, 2, 1))]
    assert [k.assay for k in services.previous_tgab_assays(patient, before=dt.date(2018, 2, 20))] == [ROCHE]


def test_tg_doubling_time_leaves_out_tg_with_indeterminate_tgab(patient, users):
    from assessment.models import FollowUpResult

    days = [dt.date(2018, m, 1) for m in (3, 5, 7, 9, 11)]
    for day, tg in zip(days, ("2.0", "2.8", "4.1", "5.6", "8.0"), strict=True):
        services.lab_save(user=users["nurse"], patient=patient, data={
            "sample_date": day, "analyte": "tg", "qualifier": "=", "value": Decimal(tg), "unit": "ng/mL",
            "tsh_state": "suppressed"})
    for day, text in ((days[0], ("<", "10")), (days[2], ("<", "200"))):  # negative, then indeterminate
        services.lab_save(user=users["nurse"], patient=patient, data={
            "sample_date": day, "analyte": "tgab", "qualifier": text[0], "value": Decimal(text[1]),
            "unit": "IU/mL", "assay": ROCHE, "tgab_cutoff_iu_ml": Decimal("115")})
    f = FollowUpResult.objects.get(patient=patient)
    assert f.tg_doubling_time_days is not None  # 4 detectable values remain
    assert f.tg_dt_text.endswith("(1 Tg value(s) with positive or indeterminate TgAb left out)")


def test_a_visit_without_tgab_saves_with_the_prefilled_assay_and_cut_off_left_as_shown(client, login, users, patient):
    """The prefill is the form's, not the nurse's: leaving it untouched with no TgAb result is no 'assay without a
    result' error (it was, after the prefill met the typed-values rule), and no TgAb row is stored."""
    from tests.integrity.conftest import as_post, posted_form

    login(users["nurse"])
    url = f"/patients/{patient.pk}/visits/new/?timepoint=m2"
    shown = dict(posted_form(client.get(url).content.decode()).data)
    assert (shown["lab-tgab-assay"], shown["lab-tgab-tgab_cutoff_iu_ml"]) == (ROCHE, "115.00")
    les = patient.lesions.get(label="L1")
    typed = {"visit-visit_date": "2018-04-05", f"m{les.pk}-long_mm": "9", f"m{les.pk}-short_mm": "8",
             f"m{les.pk}-third_mm": "8", "lab-tg-result": "0.1"}
    post = {**as_post(posted_form(client.get(url).content.decode()).data), **{k: [v] for k, v in typed.items()}}
    r = client.post(f"/patients/{patient.pk}/visits/new/", post)
    assert r.status_code == 302, r.content.decode()[-3000:]
    assert not LabResult.objects.filter(patient=patient, analyte="tgab", visit__timepoint="m2").exists()
    assert LabResult.objects.get(patient=patient, analyte="tg", visit__timepoint="m2").value == Decimal("0.1")
