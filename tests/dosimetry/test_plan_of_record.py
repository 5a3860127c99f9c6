"""The plan of record: exactly one per phase, default latest DICOM else hand entry, chosen explicitly with history;
the comparison, Table 4, the cohort and the dashboard use it. The dosimetry sign-off covers the plans of record and
is withdrawn when one changes."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from assessment.cohort_tables import pre_post_summary
from dosimetry import selectors, services
from dosimetry.models import DosePlan, ImplantProcedure
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

GTV = {"role": "GTV", "name": "GTV", "volume_cm3": 6.2, "d90_gy": 125.0, "d100_gy": 80.0, "dmean_gy": 190.0,
       "dmax_gy": 600.0, "v100_pct": 95.0, "v150_pct": 66.0, "v200_pct": 35.0}
MAPPING = {"GTV_L1": "GTV", "Skin": ""}


def _manual(procedure, user, kind, d90, **plan):
    return services.plan_save(user=user, procedure=procedure, kind=kind, source="manual",
                              plan_data={"prescription_gy": Decimal("120"), **plan},
                              structures=[{**GTV, "d90_gy": d90, "d100_gy": min(80.0, d90 - 1)}])


def _dicom(procedure, user, export, kind="post", name="post"):
    imp = services.dicom_upload(user=user, procedure=procedure, kind=kind, files=export(name))
    imp = services.dicom_import_confirm(user=user, imp=imp, mapping=MAPPING)
    assert imp.error == ""
    return DosePlan.objects.get(procedure=procedure, kind=kind, source="dicom")


def _records(procedure):
    return {p.kind: p for p in DosePlan.objects.filter(procedure=procedure, is_plan_of_record=True)}


def _d90(plan):
    return selectors.target_of(plan).d90_gy


@pytest.fixture
def two_post_plans(procedure, users, export):
    """A hand-entered post plan (D90 100 Gy) then a DICOM post import (D90 from the dose grid)."""
    manual = _manual(procedure, users["nurse"], "post", 100.0)
    dicom = _dicom(procedure, users["nurse"], export)
    assert abs(_d90(dicom) - 100.0) > 5  # two post plans with clearly different D90s
    return manual, dicom


def test_the_first_hand_entry_is_the_plan_of_record_of_its_phase(procedure, users):
    plan = _manual(procedure, users["nurse"], "pre", 125.0)
    assert _records(procedure) == {"pre": plan}
    assert plan.history.filter(history_change_reason="plan of record (pre-plan): none → Entered by hand plan "
                                                     f"#{plan.pk} (D90 125.0 Gy) (default)").exists()


def test_a_dicom_import_becomes_the_default_plan_of_record_and_tg43_never(two_post_plans, procedure):
    manual, dicom = two_post_plans
    assert _records(procedure) == {"post": dicom}
    tg43 = DosePlan.objects.get(procedure=procedure, kind="post", source="tg43")
    assert not tg43.is_plan_of_record
    assert DosePlan.objects.filter(procedure=procedure, kind="post").count() == 3
    assert DosePlan.objects.filter(procedure=procedure, kind="post", is_plan_of_record=True).count() == 1


def test_comparison_table4_and_cohort_use_only_the_plan_of_record(two_post_plans, procedure, users):
    manual, dicom = two_post_plans
    _manual(procedure, users["nurse"], "pre", 125.0, seed_count=8)

    def post_d90_seen():
        cmp = services.compare_pre_post(procedure)
        row = next(r for r in cmp.rows if r["key"] == "d90_gy")
        return row["post"], cmp.post.pk

    assert post_d90_seen() == (_d90(dicom), dicom.pk)
    assert services.set_plan_of_record(user=users["physician"], procedure=procedure, plan=manual,
                                       reason="DICOM export had the wrong CT")
    assert post_d90_seen() == (100.0, manual.pk)
    # Table 4 counts post D90 < Rx 120 Gy: the hand entry (100 Gy) is below; the DICOM plan was not.
    pairs = selectors.pre_post_pairs([ImplantProcedure.objects.get(pk=procedure.pk)])
    assert pre_post_summary(pairs)["post_d90_below_rx"] == 1
    assert _d90(dicom) >= 120
    services.set_plan_of_record(user=users["physician"], procedure=procedure, plan=dicom)
    pairs = selectors.pre_post_pairs([ImplantProcedure.objects.get(pk=procedure.pk)])
    assert pre_post_summary(pairs)["post_d90_below_rx"] == 0
    # The TG-43 check compares the recomputation with the DICOM plan of record, never with a hand entry.
    assert "post" in services.compare_pre_post(procedure).tg43_checks
    services.set_plan_of_record(user=users["physician"], procedure=procedure, plan=manual)
    assert "post" not in services.compare_pre_post(procedure).tg43_checks


def test_the_cohort_loads_the_plan_of_record_for_dose_response(two_post_plans, procedure, users):
    from assessment.cohort import load_cohort

    manual, dicom = two_post_plans

    def post_d90_in_cohort():
        [record] = [r for r in load_cohort(None).patients if r.patient_id == procedure.patient_id]
        return record.post_d90_gy

    assert post_d90_in_cohort() == _d90(dicom)  # the default plan of record: the DICOM import
    services.set_plan_of_record(user=users["physician"], procedure=procedure, plan=manual)
    assert post_d90_in_cohort() == 100.0  # the hand entry chosen, read from plain values (selectors.records_of)
    assert selectors.records_of(ImplantProcedure.objects.filter(pk=procedure.pk))[procedure.pk]["post"][0].pk \
        == manual.pk


def test_an_explicit_choice_stands_when_a_plan_is_added_and_history_says_from_to(two_post_plans, procedure, users,
                                                                                 export):
    manual, dicom = two_post_plans
    dicom_d90 = _d90(dicom)
    services.set_plan_of_record(user=users["physician"], procedure=procedure, plan=manual, reason="checked on CT")
    _dicom(procedure, users["nurse"], export, name="post-again")  # re-import replaces the DICOM plan
    assert _records(procedure)["post"].pk == manual.pk
    [row] = services.plan_of_record_history(procedure)[:1]
    assert row.history_user == users["physician"]
    assert row.history_change_reason == (f"plan of record (post-implant verification): DICOM import plan #{dicom.pk} "
                                         f"(D90 {dicom_d90:.1f} Gy) → Entered by hand plan #{manual.pk} "
                                         "(D90 100.0 Gy): checked on CT")


def test_reentering_the_plan_of_record_keeps_it_of_record(procedure, users):
    first = _manual(procedure, users["nurse"], "pre", 125.0)
    second = _manual(procedure, users["nurse"], "pre", 118.0)
    assert first.pk != second.pk and _records(procedure)["pre"].pk == second.pk
    assert "(re-entered)" in services.plan_of_record_history(procedure)[0].history_change_reason


def test_choosing_a_plan_of_another_procedure_is_refused(procedure, users, make_patient):
    plan = _manual(procedure, users["nurse"], "pre", 125.0)
    other = ImplantProcedure.objects.get(pk=procedure.pk)
    other.pk = None
    other.save()
    with pytest.raises(ValidationError) as exc:
        services.set_plan_of_record(user=users["physician"], procedure=other, plan=plan)
    assert f"Plan #{plan.pk} belongs to another procedure." in exc.value.messages


def test_the_database_refuses_two_plans_of_record_in_a_phase(two_post_plans):
    manual, dicom = two_post_plans
    with pytest.raises(IntegrityError), transaction.atomic():
        DosePlan.objects.filter(pk=manual.pk).update(is_plan_of_record=True)


def test_unmarked_legacy_plans_fall_back_to_the_default_rule(two_post_plans, procedure):
    manual, dicom = two_post_plans
    DosePlan.objects.filter(procedure=procedure).update(is_plan_of_record=False)
    assert selectors.plan_of_record(list(procedure.plans.all()), "post").pk == dicom.pk


# --- sign-off ---------------------------------------------------------------------------------------------------

def test_only_a_physician_signs_off_and_it_says_what_it_covers(two_post_plans, procedure, users):
    manual, dicom = two_post_plans
    with pytest.raises(PermissionDenied):
        services.procedure_sign_off(user=users["nurse"], procedure=procedure)
    signed = services.procedure_sign_off(user=users["physician"], procedure=procedure)
    assert signed.signed_off_by == users["physician"] and signed.signed_off_at is not None
    assert list(signed.sign_off_covers) == ["post"]
    covers = signed.sign_off_covers["post"]
    assert (covers["plan_id"], covers["source"]) == (dicom.pk, "dicom")
    assert covers["d90_gy"] == pytest.approx(_d90(dicom))
    row = signed.history.latest("history_id")
    assert row.history_change_reason.startswith(f"dosimetry signed off: post-implant verification DICOM import plan "
                                                f"#{dicom.pk}")


def test_a_procedure_without_plans_cannot_be_signed_off(procedure, users):
    with pytest.raises(ValidationError) as exc:
        services.procedure_sign_off(user=users["physician"], procedure=procedure)
    assert "There is no plan to sign off" in exc.value.messages[0]


def test_changing_the_plan_of_record_withdraws_the_sign_off_with_a_history_row(two_post_plans, procedure, users):
    manual, dicom = two_post_plans
    services.procedure_sign_off(user=users["physician"], procedure=procedure)
    services.set_plan_of_record(user=users["nurse"], procedure=procedure, plan=manual)
    procedure.refresh_from_db()
    assert procedure.signed_off_at is None and procedure.signed_off_by is None and procedure.sign_off_covers == {}
    row = procedure.history.latest("history_id")
    assert row.history_user == users["nurse"]
    assert row.history_change_reason.startswith(
        "dosimetry sign-off withdrawn: the post-implant verification plan of record changed (DICOM import plan")


def test_new_metrics_of_the_plan_of_record_withdraw_the_sign_off(procedure, users):
    _manual(procedure, users["nurse"], "pre", 125.0)
    services.procedure_sign_off(user=users["physician"], procedure=procedure)
    _manual(procedure, users["nurse"], "post", 110.0)  # a new phase gets its first plan of record
    procedure.refresh_from_db()
    assert procedure.signed_off_at is None
    services.procedure_sign_off(user=users["physician"], procedure=procedure)
    _manual(procedure, users["nurse"], "pre", 119.0)  # the pre plan of record re-entered
    procedure.refresh_from_db()
    assert procedure.signed_off_at is None
    assert "the pre-plan plan of record's metrics changed" in procedure.history.latest(
        "history_id").history_change_reason


def test_adding_a_plan_that_does_not_become_of_record_keeps_the_sign_off(two_post_plans, procedure, users):
    manual, dicom = two_post_plans
    services.procedure_sign_off(user=users["physician"], procedure=procedure)
    _manual(procedure, users["nurse"], "post", 104.0)  # replaces the hand entry, which is not the plan of record
    procedure.refresh_from_db()
    assert procedure.signed_off_at is not None


# --- pages ------------------------------------------------------------------------------------------------------

def test_procedure_page_shows_and_changes_the_plan_of_record_and_signs_off(login, users, procedure, two_post_plans):
    manual, dicom = two_post_plans
    client = login(users["physician"])
    url = reverse("dosimetry:procedure_detail", args=[procedure.pk])
    page = client.get(url).content.decode()
    assert page.count("plan-of-record-badge") == 1
    assert f'<option value="{dicom.pk}" selected>' in page
    response = client.post(reverse("dosimetry:plan_of_record", args=[procedure.pk, "post"]),
                           {"post-plan": manual.pk, "post-reason": "export had the wrong CT"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert f'<option value="{manual.pk}" selected>' in page
    assert "export had the wrong CT" in page  # the history line
    assert 'id="sign-off-button"' in page and "Not signed off." in page
    assert client.post(reverse("dosimetry:procedure_sign_off", args=[procedure.pk]),
                       {"password": PASSWORD}).status_code == 302
    page = client.get(url).content.decode()
    assert "Signed off" in page and f"Entered by hand plan #{manual.pk} (D90 100.0 Gy)" in page
    assert 'id="sign-off-button"' not in page


def test_nurse_has_no_sign_off_button_and_cannot_post_it(login, users, procedure, two_post_plans):
    client = login(users["nurse"])
    page = client.get(reverse("dosimetry:procedure_detail", args=[procedure.pk])).content.decode()
    assert 'id="sign-off-button"' not in page
    assert client.post(reverse("dosimetry:procedure_sign_off", args=[procedure.pk]),
                       {"password": PASSWORD}).status_code == 403
    assert ImplantProcedure.objects.get(pk=procedure.pk).signed_off_at is None


def test_reviewer_cannot_change_the_plan_of_record(login, users, procedure, two_post_plans):
    manual, dicom = two_post_plans
    client = login(users["reviewer"])
    response = client.post(reverse("dosimetry:plan_of_record", args=[procedure.pk, "post"]),
                           {"post-plan": manual.pk})
    assert response.status_code == 403
    assert _records(procedure)["post"].pk == dicom.pk


def test_reviewer_sees_the_plan_of_record_but_not_the_free_text_reason_or_dates(login, users, procedure,
                                                                                 two_post_plans):
    manual, dicom = two_post_plans
    services.set_plan_of_record(user=users["physician"], procedure=procedure, plan=manual,
                                reason="Dr Smith says the CT was wrong")
    services.procedure_sign_off(user=users["physician"], procedure=procedure)
    page = login(users["reviewer"]).get(reverse("dosimetry:procedure_detail", args=[procedure.pk])).content.decode()
    section = page[page.index('id="dosimetry-sign-off"'):]
    assert f"Entered by hand plan #{manual.pk} (D90 100.0 Gy)" in section
    assert "Dr Smith" not in page and "physician_a" not in page


def test_deleting_the_plan_of_record_withdraws_the_sign_off_and_the_default_takes_over(two_post_plans, procedure,
                                                                                        users):
    from registry.services import delete_with_reason

    manual, dicom = two_post_plans
    services.procedure_sign_off(user=users["physician"], procedure=procedure)
    delete_with_reason(user=users["physician"], instance=DosePlan.objects.get(pk=dicom.pk), reason="wrong export")
    assert _records(procedure)["post"].pk == manual.pk
    procedure.refresh_from_db()
    assert procedure.signed_off_at is None
    row = procedure.history.latest("history_id")
    assert row.history_user == users["physician"]
    assert row.history_change_reason == (
        f"dosimetry sign-off withdrawn: the post-implant verification plan of record changed (DICOM import plan "
        f"#{dicom.pk} (deleted) → Entered by hand plan #{manual.pk} (D90 100.0 Gy))")


def test_deleting_a_signed_off_procedure_with_its_plans_goes_through(two_post_plans, procedure, users):
    from registry.services import delete_with_reason

    services.procedure_sign_off(user=users["physician"], procedure=procedure)
    delete_with_reason(user=users["physician"], instance=ImplantProcedure.objects.get(pk=procedure.pk),
                       reason="entered for the wrong patient")
    assert not ImplantProcedure.objects.filter(pk=procedure.pk).exists()
    assert not DosePlan.objects.filter(procedure_id=procedure.pk).exists()


def test_changing_the_prescription_or_seeds_of_the_procedure_withdraws_the_sign_off(procedure, users):
    _manual(procedure, users["nurse"], "post", 118.0)
    services.procedure_sign_off(user=users["physician"], procedure=procedure)
    procedure.refresh_from_db()  # as the edit page loads it
    services.procedure_save(user=users["nurse"], patient=procedure.patient, lesions=procedure.lesions.all(),
                            procedure=procedure, data={"operator": "Dr Other"})
    procedure.refresh_from_db()
    assert procedure.signed_off_at is not None  # the operator is not what was signed off
    services.procedure_save(user=users["nurse"], patient=procedure.patient, lesions=procedure.lesions.all(),
                            procedure=procedure, data={"prescription_gy": Decimal("130"), "seeds_implanted": 9})
    procedure.refresh_from_db()
    assert procedure.signed_off_at is None
    assert procedure.history.latest("history_id").history_change_reason == (
        "dosimetry sign-off withdrawn: the procedure's prescription dose (Gy) 120.0 → 130; seeds implanted 8 → 9")


def test_a_plan_of_another_phase_or_an_unknown_phase_is_refused_on_the_page(login, users, procedure, two_post_plans):
    manual, dicom = two_post_plans
    pre = _manual(procedure, users["nurse"], "pre", 125.0)
    client = login(users["nurse"])
    response = client.post(reverse("dosimetry:plan_of_record", args=[procedure.pk, "post"]),
                           {"post-plan": pre.pk}, follow=True)
    assert "Plan of record not changed: plan: Select a valid choice." in response.content.decode()
    assert _records(procedure) == {"pre": pre, "post": dicom}
    assert client.post(reverse("dosimetry:plan_of_record", args=[procedure.pk, "both"]),
                       {"both-plan": pre.pk}).status_code == 404
