"""The visit form: one page, one transaction, inline errors, computed categories shown after saving."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from assessment import services
from assessment.models import LabResult, Visit, VisitResult


def _post_data(patient, when, timepoint, l1=("20", "13", "15"), tg="12.5", tg_unit="ng/mL", **extra):
    les = patient.lesions.get(label="L1")
    data = {
        "visit-timepoint": timepoint, "visit-visit_date": when.isoformat(), "visit-modality": "ct",
        "visit-reader": "Dr R",
        f"m{les.pk}-qualifier": "measured", f"m{les.pk}-long_mm": l1[0], f"m{les.pk}-short_mm": l1[1],
        f"m{les.pk}-third_mm": l1[2],
        "lab-tg-result": tg, "lab-tg-unit": tg_unit, "lab-tg-tsh_state": "suppressed", "lab-tg-assay": "Roche",
        "lab-tgab-result": "<1", "lab-tgab-unit": "IU/mL", "lab-tgab-tgab_cutoff_iu_ml": "4",
        "lab-tsh-result": "", "lab-tsh-unit": "mIU/L",
        "new0-modality": "ct", "new1-modality": "ct", "skin-grade": "1",
    }
    data.update(extra)
    return data


@pytest.fixture
def with_baseline(procedure, users):
    p = procedure.patient
    les = p.lesions.get(label="L1")
    services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
        visit={"visit_date": dt.date(2018, 1, 25), "timepoint": "baseline", "modality": "ct"},
        measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("28"), "short_mm": Decimal("20"),
                               "third_mm": Decimal("24")}}))
    return p


def test_nurse_records_a_visit_and_sees_category_and_reason(client, login, users, with_baseline):
    p = with_baseline
    login(users["nurse"])
    form = client.get(f"/patients/{p.pk}/visits/new/?timepoint=m2")
    html = form.content.decode()
    assert form.status_code == 200
    assert "20.0 mm SA" in html  # the previous value beside the input
    assert form.context["forms"].visit["timepoint"].value() == "m2"  # the time point asked for is chosen
    assert re.search(r'<option value="m2"[^>]*\bselected\b', html)  # ... and the browser shows it selected
    r = client.post(f"/patients/{p.pk}/visits/new/", _post_data(p, dt.date(2018, 4, 5), "m2"), follow=True)
    html = r.content.decode()
    assert r.status_code == 200
    assert "PR (partial response)" in html
    assert "−35" in html or "-35" in html  # 13 vs 20 mm
    v = Visit.objects.get(patient=p, timepoint="m2")
    assert VisitResult.objects.get(visit=v).overall == "PR"
    lab = LabResult.objects.get(visit=v, analyte="tgab")
    assert (lab.qualifier, lab.value) == ("<", Decimal("1"))
    assert v.toxicities.get().scale == "rtog_acute_skin"


@pytest.mark.parametrize("override, fragment", [
    ({"l1": ("10", "12", "8")}, "longer than the long axis"),
    ({"tg": "abc"}, "Tg result &#x27;abc&#x27; is not a number"),
    ({"tg_unit": "ng/dL", "tg": "-1"}, "is not a number"),
])
def test_bad_input_is_shown_inline_and_nothing_is_saved(client, login, users, with_baseline, override, fragment):
    p = with_baseline
    login(users["nurse"])
    r = client.post(f"/patients/{p.pk}/visits/new/", _post_data(p, dt.date(2018, 4, 5), "m2", **override))
    assert r.status_code == 200
    assert fragment in r.content.decode()
    assert "Nothing was saved" in r.content.decode()
    assert not Visit.objects.filter(patient=p, timepoint="m2").exists()
    assert not LabResult.objects.filter(patient=p).exists()


def test_visit_before_implant_is_a_field_error(client, login, users, with_baseline):
    p = with_baseline
    login(users["nurse"])
    r = client.post(f"/patients/{p.pk}/visits/new/", _post_data(p, dt.date(2018, 2, 1), "m2"))
    assert "is not after the implant (2018-02-05)" in r.content.decode()
    assert not Visit.objects.filter(patient=p, timepoint="m2").exists()


def test_editing_a_past_visit_recomputes_the_later_one(client, login, users, with_baseline):
    p = with_baseline
    login(users["nurse"])
    client.post(f"/patients/{p.pk}/visits/new/", _post_data(p, dt.date(2018, 4, 5), "m2"))
    client.post(f"/patients/{p.pk}/visits/new/", _post_data(p, dt.date(2018, 8, 5), "m6", l1=("25", "19", "20")))
    m6 = Visit.objects.get(patient=p, timepoint="m6")
    assert m6.result.overall == "PD"  # 19 vs nadir 13
    m2 = Visit.objects.get(patient=p, timepoint="m2")
    data = _post_data(p, dt.date(2018, 4, 5), "m2", l1=("22", "16", "15"))
    page = client.get(f"/visits/{m2.pk}/edit/")  # an edit carries the version token of the page it came from
    data["visit-_version"] = page.context["forms"].visit["_version"].value()
    r = client.post(f"/visits/{m2.pk}/edit/", data)
    assert r.status_code == 302
    m6.refresh_from_db()
    assert VisitResult.objects.get(visit=m6).overall == "SD"
    page = client.get(f"/patients/{p.pk}/").content.decode()
    assert "13.0 → 16.0" in page or ("13.0" in page and "16.0" in page)  # the change is in the history


def test_other_site_gets_404_and_reviewer_cannot_record(client, login, users, with_baseline):
    p = with_baseline
    login(users["nurse_b"])
    assert client.get(f"/patients/{p.pk}/visits/new/").status_code == 404
    login(users["reviewer"])
    assert client.get(f"/patients/{p.pk}/visits/new/").status_code == 403
    assert client.get(f"/patients/{p.pk}/").status_code == 200


def test_patient_page_shows_schedule_and_categories(client, login, users, with_baseline):
    p = with_baseline
    login(users["nurse"])
    client.post(f"/patients/{p.pk}/visits/new/", _post_data(p, dt.date(2018, 4, 5), "m2"))
    html = client.get(f"/patients/{p.pk}/").content.decode()
    assert 'id="schedule"' in html and "missed" in html  # 6 and 12 months were never recorded (2018)
    assert "<strong>PR</strong>" in html


def test_bone_lesion_row_offers_mda_and_saves_it(client, login, users, with_baseline):
    from assessment.models import Measurement
    from registry import services as registry_services

    p = with_baseline
    bone = registry_services.lesion_save(user=users["data_manager"], patient=p, data={
        "region": "bone", "site_detail": "T8 vertebra", "nodal": False})
    login(users["nurse"])
    html = client.get(f"/patients/{p.pk}/visits/new/?timepoint=m2").content.decode()
    assert f"{bone.label} MDA findings" in html
    data = _post_data(p, dt.date(2018, 4, 5), "m2", **{
        f"m{bone.pk}-qualifier": "measured", f"m{bone.pk}-long_mm": "15", f"m{bone.pk}-short_mm": "12",
        f"m{bone.pk}-non_target_status": "present", f"m{bone.pk}-mda_modality": "ct",
        f"m{bone.pk}-mda_findings": ["sclerotic_rim"]})
    assert client.post(f"/patients/{p.pk}/visits/new/", data).status_code == 302
    m = Measurement.objects.get(lesion=bone)
    assert (m.mda_modality, m.mda_findings) == ("ct", ["sclerotic_rim"])
