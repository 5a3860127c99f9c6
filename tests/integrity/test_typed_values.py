"""Typed values are stored or refused, never dropped.

A property over the visit form: posts built from the form's real field names with random non-empty values either
save, and then every value typed is found back (in the edit form of the saved visit or in its rows), or are refused
with a field error, nothing saved and every typed value shown back; never a 500. Then one example per rule that
used to drop a value silently, checking its message.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.integrity.conftest import as_post, posted_form

NUMBER = re.compile(r"^\s*([<>=]?)\s*(\d+(?:[.,]\d*)?|[.,]\d+)\s*$")


@pytest.fixture
def followed(procedure, users):
    """The eligible patient (nodal target L1) with a bone lesion L2 and a baseline visit; implant 2018-02-05."""
    from assessment import services
    from registry import services as registry

    p = procedure.patient
    bone = registry.lesion_save(user=users["data_manager"], patient=p, data={
        "region": "bone", "nodal": False, "site_detail": "T10", "baseline_long_mm": Decimal("22"),
        "baseline_short_mm": Decimal("16")})
    l1 = p.lesions.get(label="L1")
    services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
        visit={"visit_date": dt.date(2018, 1, 25), "timepoint": "baseline", "modality": "ct"},
        measurements={l1.pk: {"qualifier": "measured", "long_mm": Decimal("28"), "short_mm": Decimal("20"),
                              "third_mm": Decimal("24")},
                      bone.pk: {"qualifier": "measured", "long_mm": Decimal("22"), "short_mm": Decimal("16")}}))
    return p


def _norm(value: str):
    value = value.replace("\r\n", "\n").strip()
    m = NUMBER.match(value)
    if m:
        try:
            return (m.group(1) or "=", Decimal(m.group(2).replace(",", ".")))
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimal text
            return value
    try:  # "1e5" typed into a number field is stored as 100000
        number = Decimal(value)
    except InvalidOperation:
        return value
    return ("=", number) if number.is_finite() else value


JUNK = st.sampled_from(["abc", "-5", "1e5", "<", "9" * 12, "0", "2018-13-45"])


COMPANIONS = {
    "ctcae-ctcae_term": ("ctcae-grade",), "ctcae-grade": ("ctcae-ctcae_term",),
    "ctcae-specify": ("ctcae-ctcae_term", "ctcae-grade"), "ctcae-treatment": ("ctcae-ctcae_term", "ctcae-grade"),
    "ctcae-onset_date": ("ctcae-ctcae_term", "ctcae-grade"),
    "site": ("certainty",), "certainty": ("site",), "modality": ("site", "certainty"),
    "lab-tsh-assay": ("lab-tsh-result",), "lab-tg-assay": ("lab-tg-result",), "lab-tg-loq": ("lab-tg-result",),
    "lab-tgab-assay": ("lab-tgab-result",), "lab-tgab-loq": ("lab-tgab-result",),
}


def _same(posted: list[str], shown: list[str]) -> bool:
    """The same values, read as a person would: numbers by value (12.50 = 12.5), text without outer blanks."""
    if len(posted) != len(shown):
        return False
    return all(_norm(a) == _norm(b) for a, b in zip(sorted(posted), sorted(shown), strict=True))


def _values(strategy_for_field):
    return st.one_of(strategy_for_field, strategy_for_field, strategy_for_field, JUNK)  # mostly plausible input


def _strategy(name: str, options: dict[str, list[str]]):
    if name in options:  # a select: one of its options or something no browser would send
        valid = st.sampled_from([o for o in options[name] if o])
        return st.one_of(valid, valid, valid, st.just("not-a-choice"))
    if name.endswith("imaging_nonspecific") or name.endswith("flare_excluded"):
        return st.just("on")
    if name.endswith("_date"):
        near = st.dates(dt.date(2018, 2, 6), dt.date(2019, 2, 5))  # after the implant, before now
        return _values(st.one_of(near, near, st.dates(dt.date(1790, 1, 1), dt.date(2030, 12, 31)))
                       .map(dt.date.isoformat))
    if name.endswith("-result"):
        return _values(st.tuples(st.sampled_from(["", "<", ">"]),
                                 st.decimals(0, 5000, places=2, allow_nan=False)).map(lambda t: f"{t[0]}{t[1]}"))
    if name.endswith(("_mm", "-loq", "_iu_ml")):
        return _values(st.decimals(0, 400, places=1, allow_nan=False).map(str))
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
        lambda s: s.strip())


def _select_options(html: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for select in re.finditer(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        out[select.group(1)] = re.findall(r'<option value="([^"]*)"', select.group(2))
    for box in re.finditer(r'<input type="checkbox" name="([^"]+)" value="([^"]*)"', html):
        out.setdefault(box.group(1), []).append(box.group(2))
    return out


def _stored(name: str, posted: list[str], visit, edit_form: dict[str, list[str]]) -> bool:
    """Is the posted value found back in the saved visit?"""
    from assessment import choices as c

    prefix, _, field = name.partition("-")
    if prefix.startswith("new"):
        rows = list(visit.new_lesions.values(field))
        return any(_norm(str(r[field])) == _norm(posted[0]) for r in rows)
    if prefix == "ctcae":
        tox = visit.toxicities.filter(kind=c.ToxicityKind.CTCAE).first()
        if tox is None:
            return False
        value = getattr(tox, field)
        if field == "ctcae_term" and posted[0] in c.OTHER_SPECIFY_SHORTCUTS:  # stored as "Other, specify"
            return tox.specify in (c.OTHER_SPECIFY_SHORTCUTS[posted[0]], tox.specify) and bool(tox.specify)
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        return _norm(text) == _norm(posted[0])
    return _same(posted, edit_form.get(name, []))


def _history_rows() -> int:
    from django.apps import apps

    return sum(m.objects.count() for app in ("assessment", "registry")
               for m in apps.get_app_config(app).get_models() if m.__name__.startswith("Historical"))


def _stored_m2_visit(client, patient) -> str:
    """An m2 visit saved through the form (labs, skin grade, measurements), for the edit variant."""
    visit = patient.visits.filter(timepoint="m2").first()
    if visit is None:
        response = client.post(f"/patients/{patient.pk}/visits/new/", _valid(patient, **{
            "lab-tg-result": "3.2", "lab-tg-assay": "Roche", "lab-tgab-result": "<1", "lab-tsh-result": "0.05",
            "skin-grade": "1", "visit-reader": "Dr R", "visit-notes": "first line\r\nsecond line"}))
        assert response.status_code == 302
        visit = patient.visits.get(timepoint="m2")
    return f"/visits/{visit.pk}/edit/"


@pytest.fixture
def form_pages():
    """url → the form page as first rendered in this test: every example rolls its post back, so the page (its
    fields, options, stored values and version token) is the same for all of them and is rendered once."""
    return {}


@pytest.mark.parametrize("edit", [False, True], ids=["new visit", "edit visit"])
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_every_typed_visit_value_is_stored_or_refused(followed, users, login, form_pages, data, edit):
    from assessment.models import Visit

    client = login(users["nurse"])
    url = _stored_m2_visit(client, followed) if edit else f"/patients/{followed.pk}/visits/new/"
    if url not in form_pages:
        form_pages[url] = client.get(url).content.decode()
    html = form_pages[url]
    base = as_post(posted_form(html).data)
    if not edit:
        base.update({k: [v] for k, v in _valid(followed).items()})  # saves as it is (test_the_base_post_saves)
    options = _select_options(html)
    # the fields a person types into (the hidden CSRF and version tokens are refused as a whole elsewhere:
    # tests/concurrency/test_lost_updates.py)
    names = sorted(n for n in posted_form(html).fields if n != "csrfmiddlewaretoken" and not n.endswith("_version"))
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True), label="fields")
    for name in list(chosen):  # often type what a value needs beside it too, so many posts also save
        for companion in COMPANIONS.get(name.split("-", 1)[-1] if name.startswith("new") else name, ()):
            full = f"{name.split('-', 1)[0]}-{companion}" if name.startswith("new") else companion
            if full in names and full not in chosen and data.draw(st.booleans(), label=f"with {full}"):
                chosen.append(full)
    post = {k: list(v) for k, v in base.items()}
    typed: dict[str, list[str]] = {}
    for name in chosen:
        value = data.draw(_strategy(name, options), label=name)
        if post.get(name) == [value]:
            continue
        post[name] = [value]
        typed[name] = [value]
    visits_before, history_before = Visit.objects.filter(patient=followed).count(), _history_rows()
    with transaction.atomic():
        response = client.post(url, post)
        assert response.status_code in (200, 302), f"{response.status_code} for {typed}"
        event("saved" if response.status_code == 302 else "refused")
        if response.status_code == 302:
            visit = Visit.objects.filter(patient=followed).order_by("-pk").first() if not edit else Visit.objects.get(
                pk=int(url.strip("/").split("/")[1]))
            edit = as_post(posted_form(client.get(f"/visits/{visit.pk}/edit/").content.decode()).data)
            dropped = {n: v for n, v in typed.items() if not _stored(n, v, visit, edit)}
            assert not dropped, f"saved, but these typed values are nowhere to be found: {dropped}"
        else:
            page = response.content.decode()
            assert 'class="error"' in page, f"refused without any error shown for {typed}"
            assert (Visit.objects.filter(patient=followed).count(), _history_rows()) == (visits_before, history_before)
            shown = as_post(posted_form(page).data)
            offered = {n: v for n, v in typed.items() if n not in options or set(v) <= set(options[n])}
            lost = {n: v for n, v in offered.items() if not _same(v, shown.get(n, []))}
            assert not lost, f"refused, and these typed values were not shown back: {lost}"
        transaction.set_rollback(True)


def _valid(patient, **extra) -> dict:
    l1 = patient.lesions.get(label="L1")
    data = {"visit-timepoint": "m2", "visit-visit_date": "2018-04-05", "visit-modality": "ct",
            f"m{l1.pk}-qualifier": "measured", f"m{l1.pk}-long_mm": "20", f"m{l1.pk}-short_mm": "13",
            f"m{l1.pk}-third_mm": "15", "lab-tg-unit": "ng/mL", "lab-tg-tsh_state": "suppressed",
            "lab-tgab-unit": "IU/mL", "lab-tsh-unit": "mIU/L",
            "new0-modality": "ct", "new1-modality": "ct"}
    bone = patient.lesions.get(label="L2")  # a target too (22 mm long axis at baseline)
    data.update({f"m{bone.pk}-qualifier": "measured", f"m{bone.pk}-long_mm": "21", f"m{bone.pk}-short_mm": "15"})
    data.update(extra)
    return data


@pytest.mark.parametrize("extra, field, message", [
    ({"ctcae-grade": "3"}, "ctcae-grade",
     "Complication grade &#x27;3&#x27; is given without a CTCAE term; allowed only with a term"),
    ({"ctcae-treatment": "ice"}, "ctcae-treatment",
     "Complication treatment &#x27;ice&#x27; is given without a CTCAE term"),
    ({"ctcae-onset_date": "2018-03-01"}, "ctcae-onset_date",
     "Complication onset &#x27;2018-03-01&#x27; is given without a CTCAE term"),
    ({"lab-tg-assay": "Roche"}, "lab-tg-assay", "Tg assay &#x27;Roche&#x27; is given without a Tg result"),
    ({"lab-tg-loq": "0.1"}, "lab-tg-loq", "Tg limit of quantification &#x27;0.1&#x27; is given without a Tg result"),
    ({"lab-tg-unit": "ng/dL"}, "lab-tg-unit", "Tg unit &#x27;ng/dL&#x27; is given without a Tg result"),
    ({"lab-tg-tsh_state": "stimulated"}, "lab-tg-tsh_state",
     "Tg drawn under &#x27;stimulated&#x27; is given without a Tg result"),
    ({"lab-tgab-tgab_cutoff_iu_ml": "60"}, "lab-tgab-tgab_cutoff_iu_ml",
     "TgAb positivity cut-off (IU/mL) &#x27;60&#x27; is given without a TgAb result"),
    ({"new0-modality": "mri"}, "new0-modality",
     "New lesion modality &#x27;mri&#x27; is given without a site; allowed only with a site"),
])
def test_a_value_typed_without_what_it_belongs_to_is_a_field_error(client, login, users, followed, extra, field,
                                                                   message):
    from assessment.models import Toxicity, Visit

    login(users["nurse"])
    response = client.post(f"/patients/{followed.pk}/visits/new/", _valid(followed, **extra))
    page = response.content.decode()
    assert response.status_code == 200 and message in page, page[page.find("errors"):][:2000]
    assert f'id="id_{field}"' in page.split(message)[0][-3000:], "the error is beside its input"
    assert not Visit.objects.filter(patient=followed, timepoint="m2").exists()
    assert not Toxicity.objects.filter(patient=followed).exists()


def test_the_base_post_of_the_property_saves(client, login, users, followed):
    """The property starts from a valid visit, so its random changes reach both the saved and the refused path."""
    login(users["nurse"])
    html = client.get(f"/patients/{followed.pk}/visits/new/").content.decode()
    post = {**as_post(posted_form(html).data), **{k: [v] for k, v in _valid(followed).items()}}
    assert client.post(f"/patients/{followed.pk}/visits/new/", post).status_code == 302


def test_axes_of_a_disappeared_lesion_are_refused_except_a_nodes_short_axis(client, login, users, followed):
    from assessment.models import Measurement, Visit

    login(users["nurse"])
    l1, bone = followed.lesions.get(label="L1"), followed.lesions.get(label="L2")
    refused = client.post(f"/patients/{followed.pk}/visits/new/", _valid(followed, **{
        f"m{bone.pk}-qualifier": "disappeared", f"m{bone.pk}-long_mm": "12"})).content.decode()
    assert ("Long axis (mm) 12 mm is given for a lesion marked &#x27;disappeared&#x27;; allowed: no size."
            in refused)
    refused = client.post(f"/patients/{followed.pk}/visits/new/", _valid(followed, **{
        f"m{l1.pk}-qualifier": "disappeared", f"m{l1.pk}-long_mm": "9", f"m{l1.pk}-short_mm": "7",
        f"m{l1.pk}-third_mm": ""})).content.decode()
    assert "Long axis (mm) 9 mm is given for a lesion marked &#x27;disappeared&#x27;; allowed: only the short axis " \
           "of a node" in refused
    assert not Visit.objects.filter(patient=followed, timepoint="m2").exists()
    saved = client.post(f"/patients/{followed.pk}/visits/new/", _valid(followed, **{
        f"m{l1.pk}-qualifier": "disappeared", f"m{l1.pk}-long_mm": "", f"m{l1.pk}-short_mm": "7",
        f"m{l1.pk}-third_mm": ""}))
    assert saved.status_code == 302
    assert Measurement.objects.get(lesion=l1, visit__timepoint="m2").short_mm == Decimal("7")


def test_mda_findings_without_their_modality_are_refused(client, login, users, followed):
    login(users["nurse"])
    bone = followed.lesions.get(label="L2")
    page = client.post(f"/patients/{followed.pk}/visits/new/", _valid(followed, **{
        f"m{bone.pk}-mda_findings": ["sclerotic_rim"]})).content.decode()
    assert "MDA findings sclerotic_rim are given without the MDA modality; choose the modality" in page


def test_a_stored_lab_result_or_skin_grade_is_not_silently_kept_when_cleared(client, login, users, followed):
    from assessment.models import LabResult

    login(users["nurse"])
    assert client.post(f"/patients/{followed.pk}/visits/new/", _valid(
        followed, **{"lab-tg-result": "3.2", "skin-grade": "1"})).status_code == 302
    visit = followed.visits.get(timepoint="m2")
    edit = as_post(posted_form(client.get(f"/visits/{visit.pk}/edit/").content.decode()).data)
    assert edit["lab-tg-result"] == ["3.2"] and edit["skin-grade"] == ["1"]
    page = client.post(f"/visits/{visit.pk}/edit/", {**edit, "lab-tg-result": [""], "skin-grade": [""]})
    html = page.content.decode()
    assert "Tg result 3.2 is stored for this visit and cannot be cleared here" in html
    assert "RTOG/EORTC skin grade 1 is stored for this visit and cannot be cleared here" in html
    assert LabResult.objects.get(visit=visit, analyte="tg").value == Decimal("3.2")


def test_a_lab_result_keeps_every_digit_in_the_form():
    from assessment.models import LabResult

    assert LabResult(qualifier="=", value=Decimal("1234.5670")).text == "1234.567"
    assert LabResult(qualifier=">", value=Decimal("1000000.0000")).text == ">1000000"
    assert LabResult(qualifier="<", value=Decimal("0.2000")).text == "<0.2"


def test_a_specification_for_a_named_ctcae_term_is_refused_not_dropped(client, login, users, followed):
    from assessment.toxicity import ToxicityInputError, ctcae_grade

    with pytest.raises(ToxicityInputError) as exc:
        ctcae_grade("Hematoma", 1, specify="left neck")
    assert exc.value.field == "specify" and "only an 'Other, specify' term takes one, not 'Hematoma'" in str(
        exc.value.allowed)
    assert ctcae_grade("seed migration", 1).specify == "seed migration"
    login(users["nurse"])
    page = client.post(f"/patients/{followed.pk}/visits/new/", _valid(followed, **{
        "ctcae-ctcae_term": "Hematoma", "ctcae-grade": "1", "ctcae-specify": "left neck"})).content.decode()
    assert "&#x27;left neck&#x27; is not allowed; allowed: no text: only an &#x27;Other, specify&#x27; term" in page


def test_registry_values_that_the_site_or_histology_would_hide_are_refused(eligible_patient, users, login):
    client = login(users["nurse"])
    p = eligible_patient
    page = client.post(f"/patients/{p.pk}/lesions/new/", {
        "region": "lung", "lung_lobe": "RUL", "cervical_level": "IV", "iodine_uptake": "no", "fdg_avid": "unknown",
    }).content.decode()
    assert ("Cervical level IV is given for a lesion in &#x27;lung&#x27;; allowed only for a cervical lymph node"
            in page)
    page = client.post(f"/patients/{p.pk}/lesions/new/", {
        "region": "bone", "site_detail": "T8", "lung_lobe": "LLL", "iodine_uptake": "no", "fdg_avid": "unknown",
    }).content.decode()
    assert "Lung lobe LLL is given for a lesion in &#x27;bone&#x27;; allowed only for a lung lesion" in page
    assert p.lesions.count() == 1
    page = client.post(f"/patients/{p.pk}/edit/", {
        "record_number": "MRN-1", "family_name": "Doe", "given_name": "Jane", "sex": "F", "birth_date": "1960-05-17",
        "diagnosis_date": "2012-03-01", "histology": "papillary", "histology_other": "tall cell",
        "surgery_extent": "total", "surgery_date": "2012-03-20", "t_category": "T2", "n_category": "N1b",
        "m_category": "M0"}).content.decode()
    assert ("Histology (other) &#x27;tall cell&#x27; is given with the histology &#x27;Papillary&#x27;; allowed only "
            "when &#x27;Other&#x27; is chosen") in page
