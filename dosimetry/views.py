"""Dosimetry pages: procedure, hand-entered plan, DICOM upload → mapping → progress, pre vs post, Table 4."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from common.errors import InputError
from common.pages import attach_errors, require
from common.uploads import upload_errors
from dosimetry import selectors as dosimetry_selectors
from dosimetry import services
from dosimetry.forms import (
    DicomUploadForm,
    MappingForm,
    PlanHeaderForm,
    PlanOfRecordForm,
    ProcedureForm,
    RetryForm,
    StructureFormSet,
)
from dosimetry.models import DicomImport, ImplantProcedure, PlanKind
from registry import free_text, overrides, selectors, signature, versioning
from registry.deidentify import scrub_dates
from registry.pages import versioned_save
from registry.roles import SIGN_OFF_PERMISSION, can_see_identifiers
from registry.templatetags.deid import implant_anchor
from reports import plots


def _procedure_for(user, pk: int) -> ImplantProcedure:
    try:
        return ImplantProcedure.objects.select_related("patient__site", "seed_model").get(
            pk=pk, patient__in=selectors.patients_for(user))
    except ImplantProcedure.DoesNotExist:
        raise Http404("No such procedure") from None


def _target_dvh_curves(comparison: services.Comparison) -> list[plots.DvhCurve]:
    """The target's DVH of each plan (pre solid, post dashed): what the figure draws and the CSV holds."""
    curves = []
    for plan, style in ((comparison.pre, "solid"), (comparison.post, "dashed")):
        target = dosimetry_selectors.target_of(plan)
        if target is not None and target.dvh.get("dose_gy"):
            curves.append(plots.DvhCurve(f"{plan.get_kind_display()} {target.role}", target.dvh["dose_gy"],
                                         target.dvh["volume_pct"], style))
    return curves


def procedure_edit(request: HttpRequest, pk: int | None = None, patient_pk: int | None = None) -> HttpResponse:
    if pk is None:
        require(request, "dosimetry.add_implantprocedure")
        patient = selectors.get_patient_for(request.user, patient_pk)
        procedure, instance = None, ImplantProcedure(patient=patient)
    else:
        require(request, "dosimetry.change_implantprocedure")
        procedure = instance = _procedure_for(request.user, pk)
        patient = procedure.patient
    can_override = overrides.may_confirm(request.user)
    form = ProcedureForm(request.POST or None, instance=instance, patient=patient)
    scope = versioning.scope_for(procedure, patient.pk) if procedure else None
    versioning.attach(form, scope)
    ctx = {"form": form, "patient": patient, "title": f"{patient} — implant procedure", "pending": [],
           "can_override": can_override, "override_reason": request.POST.get("override_reason", "")}
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items()
                if k not in ("lesions", "override_reason", versioning.FIELD_NAME)}
        try:
            ok, result = versioned_save(request, form, scope, lambda: services.procedure_save(
                user=request.user, patient=patient, data=data, lesions=form.cleaned_data["lesions"],
                procedure=procedure, check_deviations=True,
                override_reason=request.POST.get("override_reason", "")), ctx)
        except services.UnconfirmedWarnings as exc:
            ctx["pending"] = exc.warnings
            form.add_error(None, exc.message_dict["override_reason"])
        except (ValidationError, InputError) as exc:
            attach_errors(exc, form)
        else:
            if ok:
                saved, warnings = result
                messages.success(request, f"{saved} saved.")
                for w in warnings:
                    messages.warning(request, w)
                return redirect("dosimetry:procedure_detail", pk=saved.pk)
    return render(request, "dosimetry/procedure_form.html", ctx)


@require_safe  # a read-only page: POST is 405
def procedure_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "dosimetry.view_implantprocedure")
    procedure = _procedure_for(request.user, pk)
    comparison = services.compare_pre_post(procedure)
    curves = _target_dvh_curves(comparison)
    rx = float(procedure.prescription_gy)
    # The region that matters is around Rx; near-seed doses of thousands of Gy would squeeze it flat.
    figure_settings = plots.PlotSettings(dose_axis_max_gy=3 * rx)
    svg = plots.svg_inline(plots.dvh_figure(curves, rx, f"{procedure.patient.study_id} — cumulative DVH",
                                            settings=figure_settings)) if curves else ""
    plans = list(procedure.plans.prefetch_related("structures"))
    records = {kind: dosimetry_selectors.plan_of_record(plans, kind) for kind in PlanKind.values}
    record_forms = [
        (kind, PlanKind(kind).label, PlanOfRecordForm(prefix=kind, initial={"plan": records[kind].pk}, plans=[
            (p, services.plan_label(p)) for p in plans if p.kind == kind]))
        for kind in PlanKind.values if records[kind] is not None]
    return render(request, "dosimetry/procedure_detail.html", {
        "procedure": procedure, "patient": procedure.patient, "cmp": comparison, "dvh_svg": svg,
        "plans": [(p, records[p.kind] is not None and p.pk == records[p.kind].pk) for p in plans],
        "imports": procedure.dicom_imports.select_related("overridden_by").order_by("-created_at")[:5],
        "warnings": procedure.warnings(),
        "deviations": dosimetry_selectors.reasons_for(procedure),
        "record_forms": record_forms,
        "record_history": services.plan_of_record_history(procedure),
        "sign_off_history": services.sign_off_history(procedure),
        "identified": can_see_identifiers(request.user),
        "can_change": request.user.has_perm("dosimetry.change_implantprocedure"),
        "can_choose_record": request.user.has_perm("dosimetry.change_doseplan"),
        "can_sign_off": request.user.has_perm(f"registry.{SIGN_OFF_PERMISSION}"),
        "sign_off_statement": signature.statement("dosimetry", request.user, procedure),
    })


@require_POST
def plan_of_record(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    require(request, "dosimetry.change_doseplan")
    procedure = _procedure_for(request.user, pk)
    if kind not in PlanKind.values:
        raise Http404("No such plan phase")
    plans = list(procedure.plans.filter(kind=kind).prefetch_related("structures"))
    form = PlanOfRecordForm(request.POST, prefix=kind, plans=[(p, services.plan_label(p)) for p in plans])
    if not form.is_valid():
        messages.error(request, "Plan of record not changed: " + " ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("dosimetry:procedure_detail", pk=procedure.pk)
    plan = next(p for p in plans if p.pk == form.cleaned_data["plan"])
    try:
        changed = services.set_plan_of_record(user=request.user, procedure=procedure, plan=plan,
                                              reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, "Plan of record not changed: " + " ".join(exc.messages))
    else:
        label = PlanKind(kind).label
        if changed:
            messages.success(request, f"{label} plan of record: {services.plan_label(plan)}.")
        else:
            messages.info(request, f"{services.plan_label(plan)} already is the {label.lower()} plan of record.")
    return redirect("dosimetry:procedure_detail", pk=procedure.pk)


@require_POST
def procedure_sign_off(request: HttpRequest, pk: int) -> HttpResponse:
    procedure = _procedure_for(request.user, pk)
    require(request, f"registry.{SIGN_OFF_PERMISSION}")
    meaning = signature.statement("dosimetry", request.user, procedure)
    form = signature.SignatureForm(request.POST, request=request, meaning=meaning)
    if not form.is_valid():  # the password under the statement of meaning: an open session cannot sign
        return render(request, "registry/sign_off.html", {
            "form": form, "patient": procedure.patient, "title": f"{procedure.patient} — sign off the dosimetry",
            "meaning": meaning, "action": request.path, "version": ""})
    try:
        services.procedure_sign_off(user=request.user, procedure=procedure, meaning=meaning)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Dosimetry signed off.")
    return redirect("dosimetry:procedure_detail", pk=procedure.pk)


@require_safe  # a read-only page: POST is 405
def dvh_csv(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "dosimetry.view_implantprocedure")
    procedure = _procedure_for(request.user, pk)
    curves = _target_dvh_curves(services.compare_pre_post(procedure))
    if not curves:
        raise Http404("No DVH curve stored for this procedure (hand-entered plans have none).")
    response = HttpResponse(plots.figure_csv(curves), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="dvh-{procedure.patient.study_id}.csv"'
    return response


def plan_entry(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "dosimetry.add_doseplan")
    procedure = _procedure_for(request.user, pk)
    header = PlanHeaderForm(request.POST or None, initial={"prescription_gy": procedure.prescription_gy})
    formset = StructureFormSet(request.POST or None, prefix="s",
                               initial=[{"role": "GTV"}, {"role": "PTV"}])
    if request.method == "POST" and header.is_valid() and formset.is_valid():
        rows = [r for f in formset if f.has_changed() and (r := f.row())]
        data = {k: v for k, v in header.cleaned_data.items() if k != "kind"}
        try:
            services.plan_save(user=request.user, procedure=procedure, kind=header.cleaned_data["kind"],
                               source="manual", plan_data=data, structures=rows)
        except ValidationError as exc:
            messages.error(request, "Not saved: " + " ".join(
                f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v)
                for k, v in getattr(exc, "message_dict", {"__all__": exc.messages}).items()))
        else:
            messages.success(request, "Plan saved.")
            return redirect("dosimetry:procedure_detail", pk=procedure.pk)
    return render(request, "dosimetry/plan_entry.html", {"procedure": procedure, "patient": procedure.patient,
                                                         "header": header, "formset": formset})


def dicom_upload(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "dosimetry.add_doseplan")
    procedure = _procedure_for(request.user, pk)
    form = DicomUploadForm(request.POST or None, request.FILES or None)
    too_large = upload_errors(request)  # files the upload handler dropped (over UPLOAD_MAX_FILE_MB)
    if request.method == "POST" and too_large:
        form.is_valid()
        form.add_error("files", too_large)
    elif request.method == "POST" and form.is_valid():
        files = [(f.name, f) for f in form.cleaned_data["files"]]  # read from their temporary files
        try:
            imp = services.dicom_upload(user=request.user, procedure=procedure, kind=form.cleaned_data["kind"],
                                        files=files)
        except (ValidationError, InputError) as exc:
            attach_errors(exc, form)
        else:
            return redirect("dosimetry:dicom_mapping", pk=imp.pk)
    return render(request, "registry/form.html", {"form": form, "patient": procedure.patient, "multipart": True,
                                                  "title": f"{procedure.patient} — import a DICOM RT export"})


def _import_for(user, pk: int) -> DicomImport:
    try:
        return DicomImport.objects.select_related("procedure__patient").get(
            pk=pk, procedure__patient__in=selectors.patients_for(user))
    except DicomImport.DoesNotExist:
        raise Http404("No such import") from None


def dicom_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "dosimetry.add_doseplan")
    imp = _import_for(request.user, pk)
    if imp.status != DicomImport.Status.UPLOADED:
        return redirect("dosimetry:dicom_status", pk=imp.pk)
    can_override = overrides.may_confirm(request.user)
    form = MappingForm(request.POST or None, roi_names=imp.roi_names, initial_mapping=imp.mapping,
                       with_override=imp.needs_confirmation and can_override, clip_to_grid=imp.clip_to_grid)
    if request.method == "POST" and form.is_valid():
        try:
            services.dicom_import_confirm(user=request.user, imp=imp, mapping=form.mapping(),
                                          override_reason=form.cleaned_data.get("override_reason", ""),
                                          clip_to_grid=form.cleaned_data["clip_to_grid"])
        except (ValidationError, InputError) as exc:
            attach_errors(exc, form)
            if imp.needs_confirmation and can_override and "override_reason" not in form.fields:
                form.add_override_field()  # the checks run again at the import found new blocking warnings
        else:
            return redirect("dosimetry:dicom_status", pk=imp.pk)
    return render(request, "dosimetry/mapping.html", {
        "form": form, "patient": imp.procedure.patient, "imp": imp, "can_override": can_override,
        "identified": can_see_identifiers(request.user),
        "title": f"Map the structures of the {imp.get_kind_display().lower()} export (remembered for this site)"})


@require_safe  # a read-only page: POST is 405
def dicom_status(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "dosimetry.view_doseplan")
    imp = _import_for(request.user, pk)
    if imp.status == DicomImport.Status.RUNNING and services.recover_interrupted_imports():
        imp.refresh_from_db()  # its run is lost: now failed, with the reason, and retryable (a queued one waits)
    if request.headers.get("Accept") == "application/json":
        text, error = imp.progress_text, free_text.import_text(request.user, imp, imp.error)
        if not can_see_identifiers(request.user):  # reviewers: dates in the messages as study days

            anchor = implant_anchor(imp.procedure.patient)
            text, error = scrub_dates(text, anchor), scrub_dates(error, anchor)
        return JsonResponse({"status": imp.status, "progress_pct": imp.progress_pct, "text": text, "error": error})
    if imp.status == DicomImport.Status.DONE:
        messages.success(request, f"{imp.get_kind_display()} imported from DICOM.")
        return redirect("dosimetry:procedure_detail", pk=imp.procedure_id)
    return render(request, "dosimetry/import_status.html", {
        "imp": imp, "patient": imp.procedure.patient, "identified": can_see_identifiers(request.user),
        "can_retry": imp.status == DicomImport.Status.FAILED and request.user.has_perm("dosimetry.add_doseplan"),
        "retry_form": RetryForm(clip_to_grid=imp.clip_to_grid)})


@require_POST
def dicom_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Run a failed import again from its kept files (same permission as importing)."""
    require(request, "dosimetry.add_doseplan")
    imp = _import_for(request.user, pk)
    form = RetryForm(request.POST)
    clip = form.cleaned_data["clip_to_grid"] if form.is_valid() else None  # a BooleanField is always valid
    try:
        imp = services.dicom_import_retry(user=request.user, imp=imp, clip_to_grid=clip)
    except ValidationError as exc:
        messages.error(request, "Not retried: " + " ".join(exc.messages))
        return redirect("dosimetry:dicom_status", pk=imp.pk)
    if imp.status == DicomImport.Status.UPLOADED:
        messages.info(request, "Retried: the import waits for a physician's confirmation on the mapping page.")
        return redirect("dosimetry:dicom_mapping", pk=imp.pk)
    messages.info(request, f"DICOM import #{imp.pk} retried (run {imp.attempts}).")
    return redirect("dosimetry:dicom_status", pk=imp.pk)
