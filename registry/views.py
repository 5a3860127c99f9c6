"""Registry pages. Each view: find the object through the scoped selectors, check the role, call a service."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from common.errors import InputError
from common.pages import attach_errors, require
from registry import choices as c
from registry import free_text, overrides, panels, selectors, services, signature, versioning
from registry.audit import patient_history
from registry.forms import DeleteForm, EligibilityForm, IodineCourseForm, LesionForm, PatientForm, RairForm
from registry.models import (
    EligibilityAssessment,
    IodineCourse,
    IodineUptake,
    Lesion,
    Patient,
    RairClassification,
)
from registry.pages import child_form, versioned_save
from registry.queries import FreeTextQuery, PatientListQuery
from registry.roles import NURSE, PHYSICIAN, SIGN_OFF_PERMISSION, can_see_identifiers, roles_of
from registry.units import ACCEPTED_UNITS


@require_safe  # a read-only page: POST is 405
def home(request: HttpRequest) -> HttpResponse:
    """Nurses start on their follow-up worklist, physicians on the response dashboard, others on the list."""
    roles = roles_of(request.user)
    if NURSE in roles:
        return redirect("assessment:worklist")
    if PHYSICIAN in roles:
        return redirect("assessment:dashboard")
    return redirect("registry:patient_list")


@require_safe  # a read-only page: POST is 405
def patient_list(request: HttpRequest) -> HttpResponse:
    require(request, "registry.view_patient")
    query = PatientListQuery(request.GET, user=request.user)
    values = query.values()
    params = {k: values[k] or "" for k in ("q", "site", "rair", "eligibility")}
    qs = selectors.patient_list(request.user, **params)
    page = Paginator(qs, 25).get_page(values["page"] or 1)
    return render(request, "registry/patient_list.html", {
        "page": page,
        "params": params,
        "query_errors": query.messages(),
        "querystring": query.querystring(without=("page",)),
        "sites": selectors.sites_for(request.user),
        "rair_choices": c.RairStatus.choices,
        "eligibility_choices": c.EligibilityStatus.choices,
        "can_add": request.user.has_perm("registry.add_patient"),
    })


def _rair_unconfirmed(patient) -> list[dict[str, str]]:
    """RAIR criteria contradicting the ¹³¹I history that nobody confirmed (e.g. uptake recorded afterwards)."""
    rair = getattr(patient, "rair", None)
    if rair is None:
        return []
    accepted = {w.get("message") for w in rair.warnings}
    return [w for w in services.rair_warnings(patient, rair) if w["message"] not in accepted]


@require_safe  # a read-only page: POST is 405
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "registry.view_patient")
    patient = selectors.get_patient_for(request.user, pk)
    courses = list(patient.iodine_courses.prefetch_related("uptakes__lesion"))
    lesions = list(patient.lesions.all())
    cumulative = sum(co.activity_gbq for co in courses)
    assessments = list(patient.eligibility_assessments.select_related("signed_off_by"))
    can_sign_off = request.user.has_perm("registry.sign_off")
    if can_sign_off:  # a sign-off covers the facts shown on this page: the buttons carry their version
        for a in assessments:
            a.version_token = versioning.token_for(_eligibility_sign_off_scope(a))
            a.sign_off_statement = signature.statement("eligibility", request.user, a)
    return render(request, "registry/patient_detail.html", {
        "patient": patient,
        "lesions": lesions,
        "courses": courses,
        "cumulative_gbq": cumulative,
        "last_course": courses[-1] if courses else None,
        "rair": getattr(patient, "rair", None),
        "rair_unconfirmed": _rair_unconfirmed(patient),
        "show_override_details": can_see_identifiers(request.user),
        "assessments": assessments,
        "stage_version": versioning.token_for(versioning.scope_for(patient, patient.pk)) if can_sign_off else "",
        "stage_statement": signature.statement("stage", request.user, patient) if can_sign_off else "",
        "history": free_text.protect_history(
            request.user, patient_history(patient, identifiers=can_see_identifiers(request.user))),
        # the sections of the apps above the registry (implants, follow-up), in their registered order
        "panels": panels.patient_panels(request, patient),
        "can_change": request.user.has_perm("registry.change_patient"),
        "can_delete": request.user.has_perm("registry.delete_patient"),
        "can_sign_off": can_sign_off,
    })


def patient_create(request: HttpRequest) -> HttpResponse:
    require(request, "registry.add_patient")
    sites = selectors.sites_for(request.user)
    form = PatientForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "site"}
        try:
            patient = services.patient_create(user=request.user, site=form.cleaned_data["site"], data=data)
        except (ValidationError, InputError) as exc:
            attach_errors(exc, form)
        else:
            messages.success(request, f"Patient {patient.study_id} registered.")
            return redirect("registry:patient_detail", pk=patient.pk)
    return render(request, "registry/form.html", {"form": form, "title": "Register a patient"})


def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "registry.change_patient")
    patient = selectors.get_patient_for(request.user, pk)
    scope = versioning.scope_for(patient, patient.pk)
    form = PatientForm(request.POST or None, instance=patient)
    versioning.attach(form, scope)
    ctx = {"form": form, "patient": patient, "title": f"Edit {patient}"}
    if request.method == "POST" and form.is_valid():
        try:
            saved, _ = versioned_save(request, form, scope, lambda: services.patient_update(
                user=request.user, patient=patient, data=form.cleaned_data), ctx)
        except (ValidationError, InputError) as exc:
            attach_errors(exc, form)
        else:
            if saved:
                messages.success(request, f"{patient.study_id} saved.")
                return redirect("registry:patient_detail", pk=patient.pk)
    return render(request, "registry/form.html", ctx)


def _child_for_edit(request: HttpRequest, model, pk: int | None, patient_pk: int | None):
    """(patient, existing record or None, instance for the form): add needs add_*, change needs change_*."""
    name = model._meta.model_name
    if pk is None:
        require(request, f"registry.add_{name}")
        patient = selectors.get_patient_for(request.user, patient_pk)
        return patient, None, model(patient=patient)
    require(request, f"registry.change_{name}")
    existing = selectors.get_child_for(request.user, model, pk)
    return existing.patient, existing, existing


def lesion_edit(request: HttpRequest, pk: int | None = None, patient_pk: int | None = None) -> HttpResponse:
    patient, lesion, instance = _child_for_edit(request, Lesion, pk, patient_pk)
    form = LesionForm(request.POST or None, instance=instance)
    return child_form(
        request, patient, form,
        lambda: services.lesion_save(user=request.user, patient=patient, data=form.cleaned_data, lesion=lesion),
        f"{patient} — {'lesion ' + lesion.label if lesion else 'new lesion'}",
        scope=versioning.scope_for(lesion, patient.pk) if lesion else None,
    )


def course_edit(request: HttpRequest, pk: int | None = None, patient_pk: int | None = None) -> HttpResponse:
    patient, course, instance = _child_for_edit(request, IodineCourse, pk, patient_pk)
    current = {u.lesion_id: u.uptake for u in course.uptakes.all()} if course else {}
    form = IodineCourseForm(request.POST or None, instance=instance, lesions=patient.lesions.all(), uptakes=current)
    return child_form(
        request, patient, form,
        lambda: services.iodine_course_save(
            user=request.user, patient=patient, data=form.fact_data(), uptakes=form.uptakes(), course=course
        ),
        f"{patient} — ¹³¹I course",
        scope=versioning.scope_for(course, patient.pk, (IodineUptake, "course")) if course else None,
    )


def rair_edit(request: HttpRequest, patient_pk: int) -> HttpResponse:
    """RAIR criteria; criteria contradicting the ¹³¹I history are warnings a physician confirms with a reason."""
    require(request, "registry.change_rairclassification")
    patient = selectors.get_patient_for(request.user, patient_pk)
    rair = getattr(patient, "rair", None)
    form = RairForm(request.POST or None, instance=rair)
    override_form = overrides.OverrideForm(request.POST or None, prefix="override")
    title = f"{patient} — RAIR-DTC criteria (ATA 2015)"
    scope = versioning.Scope(f"registry.rairclassification:patient{patient.pk}", patient.pk,
                             (versioning.Part(RairClassification, {"patient_id": patient.pk}),))
    versioning.attach(form, scope)
    ctx = {"form": form, "patient": patient, "title": title, "warnings": [], "warning_message": "",
           "can_confirm": overrides.may_confirm(request.user)}
    if request.method == "POST" and form.is_valid():
        try:
            saved, _ = versioned_save(request, form, scope, lambda: services.rair_update(
                user=request.user, patient=patient, data=form.cleaned_data, override=override_form.override()), ctx)
        except overrides.WarningsPending as exc:
            ctx.update(warnings=exc.warnings, warning_message=exc.text)
            override_form = overrides.OverrideForm.after(exc, request.POST, prefix="override")
        except (ValidationError, InputError) as exc:
            attach_errors(exc, form)
        else:
            if saved:
                messages.success(request, f"{title}: saved.")
                return redirect("registry:patient_detail", pk=patient.pk)
    return render(request, "registry/rair_form.html", {**ctx, "override_form": override_form})


def eligibility_edit(request: HttpRequest, pk: int | None = None, patient_pk: int | None = None) -> HttpResponse:
    patient, assessment, instance = _child_for_edit(request, EligibilityAssessment, pk, patient_pk)
    form = EligibilityForm(request.POST or None, instance=instance)
    return child_form(
        request, patient, form,
        lambda: services.eligibility_save(
            user=request.user, patient=patient, data=form.cleaned_data, assessment=assessment
        ),
        f"{patient} — eligibility assessment",
        scope=versioning.scope_for(assessment, patient.pk) if assessment else None,
        unit_lists={"units-cell": list(ACCEPTED_UNITS["platelets"]), "units-hb": list(ACCEPTED_UNITS["hemoglobin"])},
    )


def _eligibility_sign_off_scope(assessment: EligibilityAssessment) -> versioning.Scope:
    """The facts an eligibility verdict rests on: the assessment, the patient's ¹³¹I courses and RAIR facts."""
    pk = assessment.patient_id
    return versioning.Scope(f"signoff.eligibility:{assessment.pk}", pk, (
        versioning.Part(EligibilityAssessment, {"id": assessment.pk}),
        versioning.Part(IodineCourse, {"patient_id": pk}),
        versioning.Part(RairClassification, {"patient_id": pk}),
    ))


def _sign_off(request: HttpRequest, scope: versioning.Scope, sign, done: str, *, meaning: str,
              patient: Patient, title: str) -> HttpResponse | None:
    """Sign off only what the physician saw (the form carries the version of the page it was on) and only with his
    password under the statement of meaning (registry/signature.py). A wrong password: the sign-off page again with
    the field error (returned); otherwise None and a message, and the caller redirects."""
    form = signature.SignatureForm(request.POST, request=request, meaning=meaning)
    if not form.is_valid():
        return render(request, "registry/sign_off.html", {
            "form": form, "patient": patient, "title": title, "meaning": meaning, "action": request.path,
            "version": request.POST.get(versioning.FIELD_NAME, ""),
        })
    try:
        versioning.guarded_save(request.POST.get(versioning.FIELD_NAME), scope, sign,
                                identifiers=can_see_identifiers(request.user))
    except versioning.StaleEdit as stale:
        messages.error(request, "Not signed off: " + (stale.summary() or "the button carried no valid version token")
                       + ". Review the values shown now and sign off again.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)
    return None


@require_POST
def eligibility_sign_off(request: HttpRequest, pk: int) -> HttpResponse:
    assessment = selectors.get_child_for(request.user, EligibilityAssessment, pk)
    require(request, f"registry.{SIGN_OFF_PERMISSION}")
    meaning = signature.statement("eligibility", request.user, assessment)
    refused = _sign_off(request, _eligibility_sign_off_scope(assessment), lambda: services.eligibility_sign_off(
        user=request.user, assessment=assessment, meaning=meaning), "Eligibility signed off.",
        meaning=meaning, patient=assessment.patient, title=f"{assessment.patient} — sign off the eligibility")
    return refused or redirect("registry:patient_detail", pk=assessment.patient_id)


@require_POST
def stage_sign_off(request: HttpRequest, patient_pk: int) -> HttpResponse:
    patient = selectors.get_patient_for(request.user, patient_pk)
    require(request, f"registry.{SIGN_OFF_PERMISSION}")
    meaning = signature.statement("stage", request.user, patient)
    refused = _sign_off(request, versioning.scope_for(patient, patient.pk), lambda: services.stage_sign_off(
        user=request.user, patient=patient, meaning=meaning), "Stage signed off.",
        meaning=meaning, patient=patient, title=f"{patient} — sign off the stage")
    return refused or redirect("registry:patient_detail", pk=patient.pk)


DELETABLE = {"patient": Patient, "lesion": Lesion, "course": IodineCourse, "eligibility": EligibilityAssessment}


def delete(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Confirmation page listing what the deletion takes (or what blocks it), then the deletion with a reason."""
    model = DELETABLE.get(kind)
    if model is None:
        raise Http404
    obj = selectors.get_patient_for(request.user, pk) if model is Patient else selectors.get_child_for(
        request.user, model, pk)
    require(request, f"registry.delete_{model._meta.model_name}")
    patient = obj if model is Patient else obj.patient
    label = f"{model._meta.verbose_name} {obj}"
    form = DeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.delete_with_reason(user=request.user, instance=obj, reason=form.cleaned_data["reason"])
        except (ValidationError, InputError) as exc:
            attach_errors(exc, form)
        else:
            messages.success(request, f"Deleted {label} ({form.cleaned_data['reason']}).")
            if model is Patient:
                return redirect("registry:patient_list")
            return redirect("registry:patient_detail", pk=patient.pk)
    will_delete, blocked = services.deletion_preview(user=request.user, instance=obj)
    return render(request, "registry/delete.html", {
        "form": form, "patient": patient, "title": f"Delete {label}", "will_delete": will_delete,
        "blocked": blocked, "label": label,
    })


# --- Free text for reviewers (registry/free_text.py) -------------------------------------------------------------

FREE_TEXT_PAGE_SIZE = 50


def free_text_release(request: HttpRequest) -> HttpResponse:
    """Data managers: the free texts of their sites' patients that reviewers do not see; release one (POST, with
    the confirmation that it contains no identifiers) or revoke a release."""
    if not free_text.may_release(request.user) or not request.user.has_perm("registry.view_freetextrelease"):
        raise PermissionDenied("Only data managers release free text to reviewers.")
    if request.method == "POST":
        action, item = request.POST.get("action", ""), request.POST.get("item", "")
        try:
            ct_id, object_id, field = item.split(":", 2)
            ct_id, object_id = int(ct_id), int(object_id)
        except ValueError:
            messages.error(request, f"item: got {item[:40]!r}; allowed: a text listed on this page.")
        else:
            try:
                if action == "release":
                    done = free_text.release(user=request.user, content_type_id=ct_id, object_id=object_id,
                                             field=field, digest=request.POST.get("sha256", ""),
                                             confirmed=request.POST.get("confirm") == "on")
                    messages.success(request, f"Released to reviewers: the {done.field_label} of {done.study_id} "
                                              f"{done.record}.")
                elif action == "revoke":
                    done = free_text.revoke(user=request.user, content_type_id=ct_id, object_id=object_id,
                                            field=field)
                    messages.success(request, f"Withheld from reviewers again: the {done.field_label} of "
                                              f"{done.study_id} {done.record}.")
                else:
                    messages.error(request, f"action: got {action[:40]!r}; allowed: release or revoke.")
            except ValidationError as exc:
                for text in exc.messages:
                    messages.error(request, text)
        query = FreeTextQuery(request.GET, user=request.user).querystring()
        return redirect(request.path + (f"?{query}" if query else ""))
    query = FreeTextQuery(request.GET, user=request.user)
    values = query.values()
    state = values["state"] or "withheld"
    page = Paginator(free_text.items_for(request.user, state=state), FREE_TEXT_PAGE_SIZE).get_page(values["page"] or 1)
    return render(request, "registry/free_text.html", {
        "page": page, "state": state, "states": FreeTextQuery.STATES, "query_errors": query.messages(),
        "querystring": query.querystring(without=("page",)), "sites": free_text.release_sites(request.user),
        "withheld_marker": free_text.WITHHELD,
    })
