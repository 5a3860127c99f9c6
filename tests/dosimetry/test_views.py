"""Dosimetry pages: scoping, the procedure page with both DVH curves, the upload → mapping → import flow, Table 4."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dosimetry import services
from dosimetry.models import DicomImport

pytestmark = pytest.mark.django_db


def _import(client, procedure, kind, files):
    response = client.post(reverse("dosimetry:dicom_upload", args=[procedure.pk]), {
        "kind": kind, "files": [SimpleUploadedFile(name, content) for name, content in files]})
    assert response.status_code == 302, response.content.decode()[:2000]
    imp = DicomImport.objects.latest("pk")
    assert response.url == reverse("dosimetry:dicom_mapping", args=[imp.pk])
    page = client.get(response.url).content.decode()
    assert "GTV_L1" in page and "Skin" in page
    response = client.post(response.url, {"roi_0": "GTV", "roi_1": ""} if imp.roi_names[0] == "GTV_L1"
                           else {"roi_0": "", "roi_1": "GTV"})
    assert response.status_code == 302
    return client.get(response.url)  # status page: done → redirect to the procedure


def test_upload_pre_and_post_and_see_both_side_by_side(login, users, procedure, export):
    client = login(users["physician"])
    assert _import(client, procedure, "pre", export("pre")).status_code == 302
    assert _import(client, procedure, "post", export("post", shift_cm=0.1)).status_code == 302
    page = client.get(reverse("dosimetry:procedure_detail", args=[procedure.pk])).content.decode()
    assert page.count('id="dvh-pre-plan-gtv"') == 1 and page.count('id="dvh-post-implant-verification-gtv"') == 1
    assert "TG-43 (1-D) recomputation" in page and page.count("<h3>Pre plan</h3>") == 1
    assert "8 planned" in page and "8 implanted" in page
    csv = client.get(reverse("dosimetry:dvh_csv", args=[procedure.pk])).content.decode().splitlines()
    assert csv[0] == "series,dose_gy,volume_pct" and len(csv) > 10


def test_a_nurse_of_another_site_gets_404(login, users, procedure):
    client = login(users["nurse_b"])
    for name in ("procedure_detail", "dicom_upload", "plan_entry"):
        assert client.get(reverse(f"dosimetry:{name}", args=[procedure.pk])).status_code == 404


def test_upload_of_a_wrong_file_shows_the_error_on_the_field(login, users, procedure):
    client = login(users["nurse"])
    response = client.post(reverse("dosimetry:dicom_upload", args=[procedure.pk]), {
        "kind": "pre", "files": [SimpleUploadedFile("scan.txt", b"not dicom")]})
    assert response.status_code == 200
    assert "scan.txt: not a DICOM file" in response.content.decode()


def test_hand_entry_page_refuses_inconsistent_metrics(login, users, procedure):
    client = login(users["nurse"])
    data = {"kind": "pre", "prescription_gy": "120", "seed_count": "8",
            "s-TOTAL_FORMS": "1", "s-INITIAL_FORMS": "0", "s-MIN_NUM_FORMS": "0", "s-MAX_NUM_FORMS": "10",
            "s-0-role": "GTV", "s-0-volume_cm3": "6", "s-0-d90_gy": "120", "s-0-d100_gy": "130",
            "s-0-v100_pct": "95", "s-0-v150_pct": "60"}
    response = client.post(reverse("dosimetry:plan_entry", args=[procedure.pk]), data)
    assert "D100 130 Gy is above D90 120 Gy" in response.content.decode()
    assert not procedure.plans.exists()
    data["s-0-d100_gy"] = "80"
    assert client.post(reverse("dosimetry:plan_entry", args=[procedure.pk]), data).status_code == 302
    assert procedure.plans.get().structures.get().hi == pytest.approx((95 - 60) / 95)


def test_table4_page_counts_pairs(login, users, procedure):
    gtv = {"role": "GTV", "volume_cm3": 6.0, "d90_gy": 125.0, "d100_gy": 80.0, "v100_pct": 95.0,
           "v150_pct": 60.0}
    for kind in ("pre", "post"):
        services.plan_save(user=users["nurse"], procedure=procedure, kind=kind, source="manual",
                           plan_data={"prescription_gy": 120}, structures=[gtv])
    page = login(users["physician"]).get(reverse("assessment:table4")).content.decode()
    assert "1 procedures with both plans" in page
    assert 'id="d90-below">0<' in page


def test_dvh_csv_without_a_stored_curve_is_404_not_an_error(login, users, procedure):
    services.plan_save(user=users["nurse"], procedure=procedure, kind="pre", source="manual",
                       plan_data={"prescription_gy": 120}, structures=[{"role": "GTV", "volume_cm3": 6.0}])
    response = login(users["nurse"]).get(reverse("dosimetry:dvh_csv", args=[procedure.pk]))
    assert response.status_code == 404
