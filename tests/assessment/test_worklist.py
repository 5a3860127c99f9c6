"""Nurses' worklist (schedule statuses across her sites) and the live provisional category of the visit form."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from assessment import selectors, services
from assessment.models import LabResult, Visit, VisitResult
from dosimetry import services as dosimetry_services
from dosimetry.models import SeedModel
from registry import services as registry_services


def _patient_with_implant(make_patient, users, n, days_ago, site="A"):
    p = make_patient(site, record_number=f"MRN-W{n}")
    les = registry_services.lesion_save(user=users["data_manager"], patient=p, data={
        "region": "cervical_node", "cervical_level": "III", "side": "left", "nodal": True,
        "baseline_long_mm": Decimal("25"), "baseline_short_mm": Decimal("18"), "baseline_third_mm": Decimal("20")})
    implant = timezone.localdate() - dt.timedelta(days=days_ago)
    dosimetry_services.procedure_save(user=users["data_manager"], patient=p, lesions=[les], data={
        "date": implant, "operator": "Dr W", "seed_model": SeedModel.objects.get(code="6711"),
        "seeds_implanted": 10, "activity_per_seed_mbq": Decimal("20"), "activity_calibration_date": implant,
        "prescription_gy": Decimal("120")})
    return p


def test_worklist_orders_overdue_first_and_scopes_to_sites(make_patient, users, django_assert_max_num_queries):
    overdue = _patient_with_implant(make_patient, users, 1, 61 + 20)  # 2-month window closed ~6 days ago
    due = _patient_with_implant(make_patient, users, 2, 61)  # in the 2-month window
    _patient_with_implant(make_patient, users, 3, 20)  # only upcoming: not on the list (baseline missed though)
    other_site = _patient_with_implant(make_patient, users, 4, 61, site="B")
    today = timezone.localdate()
    with django_assert_max_num_queries(6):
        rows = selectors.worklist_for(users["nurse"], today)
    m2 = [(r.study_id, r.visit.status) for r in rows if r.visit.timepoint == "m2"]
    assert m2 == [(overdue.study_id, "overdue"), (due.study_id, "due")]
    assert other_site.study_id not in {r.study_id for r in rows}
    assert all(r.visit.status in ("overdue", "due", "missed") for r in rows)


def test_query_count_does_not_grow_with_patients(make_patient, users):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            rows = selectors.worklist_for(users["data_manager"], timezone.localdate())
        return len(ctx.captured_queries), len(rows)

    for n in range(3):
        _patient_with_implant(make_patient, users, n, 70 + n)
    count()  # warm the per-user role cache
    small, rows_small = count()
    for n in range(3, 9):
        _patient_with_implant(make_patient, users, n, 70 + n)
    large, rows_large = count()
    assert rows_large > rows_small
    assert small == large <= 4


def test_worklist_page_links_to_the_prefilled_form(client, login, make_patient, users):
    p = _patient_with_implant(make_patient, users, 1, 61 + 20)
    login(users["nurse"])
    home = client.get("/", follow=True)
    html = home.content.decode()
    assert home.redirect_chain[-1][0] == "/worklist/"
    assert f"/patients/{p.pk}/visits/new/?timepoint=m2" in html
    form = client.get(f"/patients/{p.pk}/visits/new/?timepoint=m2").content.decode()
    assert '<option value="m2" selected>' in form


def _form(p, l1_short, when):
    les = p.lesions.get(label="L1")
    return {"visit-timepoint": "m2", "visit-visit_date": when.isoformat(), "visit-modality": "ct",
            f"m{les.pk}-qualifier": "measured", f"m{les.pk}-long_mm": "20", f"m{les.pk}-short_mm": l1_short,
            f"m{les.pk}-third_mm": "15", "lab-tg-result": "2.5", "lab-tg-unit": "ng/mL",
            "lab-tg-tsh_state": "suppressed", "lab-tgab-unit": "IU/mL",
            "lab-tsh-unit": "mIU/L", "new0-modality": "ct", "new1-modality": "ct"}


def test_preview_equals_the_saved_result_and_saves_nothing(client, login, procedure, users):
    p = procedure.patient
    les = p.lesions.get(label="L1")
    services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
        visit={"visit_date": dt.date(2018, 1, 25), "timepoint": "baseline", "modality": "ct"},
        measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("28"), "short_mm": Decimal("20"),
                               "third_mm": Decimal("24")}}))
    login(users["nurse"])
    data = _form(p, "13", dt.date(2018, 4, 5))
    preview = client.post(f"/patients/{p.pk}/visits/preview/", data).json()
    assert preview["ok"] and preview["overall"] == "PR" and preview["sum_mm"] == "13.0"
    assert preview["reason"] == "PR: sum 13 mm is −35.0% from baseline 20 mm (≤ −30%)"
    assert not Visit.objects.filter(patient=p, timepoint="m2").exists()
    assert not LabResult.objects.filter(patient=p).exists()
    assert Visit.history.filter(timepoint="m2").count() == 0  # rolled back, not audited
    client.post(f"/patients/{p.pk}/visits/new/", data)
    saved = VisitResult.objects.get(visit__patient=p, visit__timepoint="m2")
    assert (saved.overall, saved.reason) == (preview["overall"], preview["reason"])


def test_preview_reports_invalid_entries_without_error(client, login, procedure, users):
    p = procedure.patient
    login(users["nurse"])
    out = client.post(f"/patients/{p.pk}/visits/preview/", _form(p, "30", dt.date(2018, 4, 5))).json()
    assert out["ok"] is False and "longer than the long axis" in out["message"]


@pytest.mark.parametrize("user", ["reviewer", "nurse_b"])
def test_preview_respects_permissions(client, login, procedure, users, user):
    login(users[user])
    r = client.post(f"/patients/{procedure.patient.pk}/visits/preview/", _form(procedure.patient, "13",
                                                                                dt.date(2018, 4, 5)))
    assert r.status_code in (403, 404)
