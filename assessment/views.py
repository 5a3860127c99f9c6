"""Follow-up pages: the visit form (nurses), the visit result, target designation, new therapy.

Each view finds its objects through the scoped selectors, checks the role, and calls ``assessment.services``.
"""

from __future__ import annotations

import hashlib

from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from assessment import choices as c
from assessment import cohort as co
from assessment import dashboard as dash
from assessment import selectors, services
from assessment.forms import (
    ComplicationForm,
    DesignationForm,
    LabForm,
    MeasurementForm,
    NewLesionForm,
    SkinForm,
    VisitForm,
)
from assessment.models import (
    FollowUpStatus,
    LabResult,
    LesionDesignation,
    Measurement,
    NewLesion,
    NewTherapy,
    Toxicity,
    Visit,
    VisitResult,
)
from assessment.queries import DashboardQuery, VisitCreateQuery, WorklistQuery
from assessment.schedule import suggest_timepoint
from registry import dataversion, overrides, versioning
from registry import selectors as registry_selectors
from registry.forms import ClinicalForm
from registry.roles import is_data_manager
from registry.views import _child_form, _form_errors_from, _require, versioned_save

ANALYTES = (c.Analyte.TG, c.Analyte.TGAB, c.Analyte.TSH)
N_NEW_LESION_ROWS = 2


class _Forms:
    """All the forms of one visit page, bound together so they validate and save as one."""

    def __init__(self, request: HttpRequest, patient, visit: Visit | None, procedure):
        data = request.POST if request.method == "POST" else None
        self.query = VisitCreateQuery(request.GET, user=request.user)
        today = timezone.localdate()
        initial = {}
        if visit is None:
            when = today
            tp = self.query.values()["timepoint"] or suggest_timepoint(procedure.date, when,
                                                                       services.schedule_settings())
            initial = {"visit_date": when, "timepoint": tp, "modality": c.Modality.CT}
        self.visit = VisitForm(data, instance=visit or Visit(patient=patient, procedure=procedure), initial=initial,
                               prefix="visit")
        existing = {m.lesion_id: m for m in visit.measurements.all()} if visit else {}
        histories = selectors.lesion_histories(patient, visit.visit_date if visit else None)
        self.lesions = []
        for les, role in selectors.followed_lesions(patient):
            m = existing.get(les.pk)
            init = {f: getattr(m, f) for f in ("qualifier", "long_mm", "short_mm", "third_mm", "non_target_status",
                                               "enhancement", "mda_modality", "mda_findings", "flare_excluded")} if m else {}
            h = histories.get(les.pk)
            self.lesions.append(MeasurementForm(data, prefix=f"m{les.pk}", initial=init, lesion=les, role=role,
                                                previous=h, nadir=h.nadir_mm if h else None))
        labs = {lab.analyte: lab for lab in visit.labs.all()} if visit else {}
        cutoff = services._protocol("followup")["tgab_default_cutoff_iu_ml"]
        # the TgAb cut-off is prefilled from the patient's previous TgAb result (same assay when one is typed)
        known_tgab = services.previous_tgab_assays(patient, before=visit.visit_date if visit else None,
                                                   exclude_visit=visit)
        self.labs = []
        for analyte in ANALYTES:
            lab = labs.get(analyte)
            init = {"unit": c.ANALYTE_UNITS[analyte][0], "tgab_cutoff_iu_ml": cutoff}
            extra = {}
            if analyte == c.Analyte.TGAB:
                extra["known_assays"] = known_tgab
                if known_tgab:
                    init.update(assay=known_tgab[0].assay, tgab_cutoff_iu_ml=known_tgab[0].cutoff_iu_ml)
            if lab:
                init.update(result=lab.text, unit=lab.unit, assay=lab.assay, loq=lab.loq, tsh_state=lab.tsh_state,
                            tgab_cutoff_iu_ml=lab.tgab_cutoff_iu_ml)
            self.labs.append(LabForm(data, prefix=f"lab-{analyte}", initial=init, analyte=analyte, **extra))
        self.new_lesions = [NewLesionForm(data, prefix=f"new{i}") for i in range(N_NEW_LESION_ROWS)]
        scored = {t.kind: t.grade for t in visit.toxicities.all()} if visit else {}
        self.skin = SkinForm(data, prefix="skin", initial={
            "grade": scored.get(c.ToxicityKind.RTOG_SKIN, ""),
            "subcutaneous_grade": scored.get(c.ToxicityKind.RTOG_SUBCUTANEOUS, "")})
        self.complication = ComplicationForm(data, prefix="ctcae")
        self.override = overrides.OverrideForm(data, prefix="override")
        self.warnings: list[dict[str, str]] = []
        self.warning_message = ""

    def pending(self, exc: overrides.WarningsPending, data) -> None:
        """Re-show the page with the warnings above it and the override reason (nothing was saved)."""
        self.warnings, self.warning_message = exc.warnings, exc.text
        self.override = overrides.OverrideForm.after(exc, data, prefix="override")

    def all(self):
        return [self.visit, *self.lesions, *self.labs, *self.new_lesions, self.skin, self.complication]

    def is_valid(self) -> bool:
        return all([f.is_valid() for f in self.all()])  # a list, so every form shows its errors

    def visit_input(self) -> services.VisitInput:
        d = self.visit.cleaned_data
        return services.VisitInput(
            visit={k: d[k] for k in VisitForm.Meta.fields},
            measurements={f.lesion.pk: f.values() for f in self.lesions},
            new_lesions=[r for f in self.new_lesions if (r := f.row())],
            labs=[r for f in self.labs if (r := f.row())],
            toxicities=[*self.skin.rows(), *([r] if (r := self.complication.row()) else [])],
        )

    def attach(self, exc: ValidationError) -> None:
        """Put each ``"<row>.<field>"`` error of the service beside its input."""
        by_row = {"visit": self.visit, "toxicity": self.skin}
        by_row |= {f"measurement:{f.lesion.label}": f for f in self.lesions}
        by_row |= {f"measurement:{f.lesion.pk}": f for f in self.lesions}
        by_row |= {f"lab:{f.analyte}": f for f in self.labs}
        skin_rows = self.skin.rows()
        for key, errors in exc.message_dict.items():
            row, _, field = key.rpartition(".")
            if row.startswith("toxicity:"):
                i = int(row.split(":")[1])
                if i < len(skin_rows):
                    form = self.skin
                    field = "grade" if skin_rows[i]["kind"] == c.ToxicityKind.RTOG_SKIN else "subcutaneous_grade"
                else:
                    form = self.complication
            elif row.startswith("new_lesion:"):
                form = [f for f in self.new_lesions if f.row()][int(row.split(":")[1])]
            else:
                form = by_row.get(row, self.visit)
            if row.startswith("lab:") and field == "value":
                field = "result"
            form.add_error(field if field in form.fields else None, errors)


def visit_edit(request: HttpRequest, patient_pk: int | None = None, pk: int | None = None) -> HttpResponse:
    if pk is None:
        _require(request, "assessment.add_visit")
        patient = registry_selectors.get_patient_for(request.user, patient_pk)
        visit = None
    else:
        _require(request, "assessment.change_visit")
        visit = selectors.get_visit_for(request.user, pk)
        patient = visit.patient
    procedure = services.index_procedure(patient)
    if procedure is None:
        messages.error(request, "Record the implant procedure first: follow-up counts from its date (day 0).")
        return redirect("registry:patient_detail", pk=patient.pk)
    forms = _Forms(request, patient, visit, procedure)
    if visit is None and request.method == "GET":
        for problem in forms.query.messages():
            messages.error(request, f"{problem} (the time point is suggested from the date instead)")
    # The visit and every row the page edits: measurements, labs, toxicity scores, new lesions.
    scope = versioning.scope_for(visit, patient.pk, (Measurement, "visit"), (LabResult, "visit"),
                                 (Toxicity, "visit"), (NewLesion, "visit")) if visit else None
    ctx = {"patient": patient, "visit": visit, "procedure": procedure, "forms": forms,
           "title": f"{patient.study_id} — {'edit ' + str(visit) if visit else 'record a visit'}"}
    versioning.attach(forms.visit, scope)  # the visit form carries the token of the whole page
    if request.method == "POST" and forms.is_valid():
        try:
            ok, saved = versioned_save(request, forms.visit, scope, lambda: services.visit_save(
                user=request.user, patient=patient, data=forms.visit_input(), visit=visit,
                override=forms.override.override()), ctx)
        except overrides.WarningsPending as exc:
            forms.pending(exc, request.POST)
        except ValidationError as exc:
            forms.attach(exc)
        else:
            if ok:
                messages.success(request, f"{saved}: saved; categories recomputed.")
                return redirect("assessment:visit_detail", pk=saved.pk)
    ctx["errors"] = any(f.errors for f in forms.all())
    ctx["can_confirm"] = overrides.may_confirm(request.user)
    return render(request, "assessment/visit_form.html", ctx)


@require_safe  # a read-only page: POST is 405
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "assessment.view_visit")
    visit = selectors.get_visit_for(request.user, pk)
    from registry.roles import can_see_identifiers

    return render(request, "assessment/visit_detail.html", {
        "visit": visit, "patient": visit.patient, "result": getattr(visit, "result", None),
        "show_override_details": can_see_identifiers(request.user),  # reviewers: no free text, no dates
        "lesion_results": visit.lesion_results.select_related("lesion"),
        "measurements": visit.measurements.select_related("lesion"),
        "labs": visit.labs.all(), "toxicities": visit.toxicities.all(), "new_lesions": visit.new_lesions.all(),
        "can_change": request.user.has_perm("assessment.change_visit"),
    })


def designation_edit(request: HttpRequest, patient_pk: int) -> HttpResponse:
    _require(request, "assessment.change_lesiondesignation")
    patient = registry_selectors.get_patient_for(request.user, patient_pk)
    roles, _ = services.lesion_roles(patient)
    form = DesignationForm(request.POST or None, lesions=patient.lesions.all(), roles=roles)
    mode = services.recist_settings().mode.value
    return _child_form(
        request, patient, form,
        lambda: services.designation_save(user=request.user, patient=patient, roles=form.roles()),
        f"{patient} — target / non-target lesions ({'strict RECIST 1.1' if mode == 'strict' else 'modified RECIST'})",
        scope=versioning.Scope(f"assessment.lesiondesignation:patient{patient.pk}", patient.pk,
                               (versioning.Part(LesionDesignation, {"lesion__patient_id": patient.pk}),)),
    )


class TherapyForm(ClinicalForm):
    class Meta:
        model = NewTherapy
        fields = ["kind", "start_date", "notes"]


def therapy_create(request: HttpRequest, patient_pk: int) -> HttpResponse:
    _require(request, "assessment.add_newtherapy")
    patient = registry_selectors.get_patient_for(request.user, patient_pk)
    form = TherapyForm(request.POST or None, instance=NewTherapy(patient=patient))
    return _child_form(
        request, patient, form,
        lambda: services.therapy_save(user=request.user, patient=patient, data=form.cleaned_data),
        f"{patient} — new anticancer therapy (ends the response-assessment window)",
    )


class FollowUpStatusForm(ClinicalForm):
    override_reason = forms.CharField(
        label="Override reason", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Physicians only: why the status is right despite the warnings (at least 5 characters).")

    class Meta:
        model = FollowUpStatus
        fields = ["status", "status_date", "death_cause", "death_cause_detail"]


def followup_status_edit(request: HttpRequest, patient_pk: int) -> HttpResponse:
    """Nurses record where the patient stands: in follow-up, completed, lost (last contact), withdrawn, died.
    A status with warnings is re-shown with them (nothing saved) until a physician saves it with a reason."""
    patient = registry_selectors.get_patient_for(request.user, patient_pk)
    status = FollowUpStatus.objects.filter(patient=patient).first()
    _require(request, "assessment.change_followupstatus" if status else "assessment.add_followupstatus")
    form = FollowUpStatusForm(request.POST or None, instance=status or FollowUpStatus(patient=patient))
    scope = versioning.scope_for(status, patient.pk) if status else None
    versioning.attach(form, scope)
    ctx = {"form": form, "patient": patient, "warnings": [], "can_override": overrides.may_confirm(request.user),
           "title": f"{patient} — follow-up status"}
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k not in ("override_reason", versioning.FIELD_NAME)}
        try:
            ok, _ = versioned_save(request, form, scope, lambda: services.followup_status_save(
                user=request.user, patient=patient, data=data, override_reason=form.cleaned_data["override_reason"]),
                ctx)
        except services.FollowUpWarnings as exc:
            ctx["warnings"] = exc.warnings
        except ValidationError as exc:
            _form_errors_from(exc, form)
        else:
            if ok:
                messages.success(request, f"{patient.study_id}: follow-up status saved.")
                return redirect("registry:patient_detail", pk=patient.pk)
    return render(request, "assessment/followup_status_form.html", ctx)


@require_safe  # a read-only page: POST is 405
def worklist(request: HttpRequest) -> HttpResponse:
    """Nurses' home: protocol visits overdue, due and recently missed across her sites, most urgent first."""
    _require(request, "assessment.view_visit")
    from registry.roles import can_see_identifiers

    if not can_see_identifiers(request.user):  # calendar windows of real visits: the clinical team's tool
        raise PermissionDenied("The follow-up worklist is for the clinical team; reviewers see de-identified data.")
    query = WorklistQuery(request.GET, user=request.user)
    site = query.values()["site"]
    rows = selectors.worklist_for(request.user, timezone.localdate(), site=site)
    return render(request, "assessment/worklist.html", {
        "rows": rows, "site": site, "query_errors": query.messages(), "sites": registry_selectors.sites_for(request.user),
        "counts": {s: sum(1 for r in rows if r.visit.status == s) for s in selectors.WORKLIST_STATUSES},
        "can_add_visit": request.user.has_perm("assessment.add_visit"),
    })


def visit_preview(request: HttpRequest, patient_pk: int, pk: int | None = None) -> JsonResponse:
    """The provisional sum and category of the visit being typed, computed by saving it in a transaction that is
    then rolled back: the same code path as the real save, so what is shown is what will be stored."""
    if request.method != "POST":
        return JsonResponse({"error": "POST the visit form"}, status=405)
    _require(request, "assessment.change_visit" if pk else "assessment.add_visit")
    patient = registry_selectors.get_patient_for(request.user, patient_pk)
    visit = selectors.get_visit_for(request.user, pk) if pk else None
    if visit is not None and visit.patient_id != patient.pk:
        return JsonResponse({"error": "visit of another patient"}, status=404)
    procedure = services.index_procedure(patient)
    if procedure is None:
        return JsonResponse({"ok": False, "message": "No implant recorded."})
    forms = _Forms(request, patient, visit, procedure)
    if not forms.is_valid():
        return JsonResponse({"ok": False, "message": "Incomplete or invalid entries: " + "; ".join(
            str(e) for f in forms.all() for errs in f.errors.values() for e in errs)[:400]})
    out: dict = {"ok": False}
    with transaction.atomic():
        try:
            saved = services.visit_save(user=request.user, patient=patient, data=forms.visit_input(), visit=visit,
                                        check_warnings=False)
        except ValidationError as exc:
            out["message"] = "; ".join(m for msgs in exc.message_dict.values() for m in msgs)[:400]
        except IntegrityError:  # the visit is being saved by another request at this moment
            out["message"] = "The visit is being saved; the provisional result will be shown after saving."
        else:
            # the same warnings the real save would stop at (unless already accepted on this visit)
            accepted = {w.get("message") for w in (visit.warnings if visit else [])}
            warnings = [w for w in services.visit_warnings(procedure, saved, forms.visit_input().labs)
                        if w["message"] not in accepted]
            r = VisitResult.objects.filter(visit=saved).first()
            if r is not None:
                out = {"ok": True, "overall": r.overall, "label": "Baseline" if r.is_baseline else r.overall_label,
                       "sum_mm": None if r.sum_mm is None else str(r.sum_mm), "reason": r.reason,
                       "change_from_baseline_pct": r.change_from_baseline_pct, "rule_set": r.rule_set}
            out["warnings"] = warnings
        transaction.set_rollback(True)
    return JsonResponse(out)


_DASHBOARD_TTL_S = 120


def _cached_dashboard(request: HttpRequest, flt):
    """The page and its 8 figure / CSV requests share one load of the cohort: the built dashboard is kept in
    Django's cache (shared by every web process when REDIS_URL is set) for two minutes, keyed by what the user may
    see, the filters and the data version. Every write the dashboard shows bumps that version in its own
    transaction (registry/dataversion.py), so one primary-key read decides freshness and a saved visit shows at
    once, through any process."""
    scope = "all" if is_data_manager(request.user) else ",".join(
        str(pk) for pk in sorted(registry_selectors.sites_for(request.user).values_list("pk", flat=True)))
    digest = hashlib.sha256(repr((scope, flt)).encode()).hexdigest()[:32]
    key = f"dashboard:{dataversion.current()}:{digest}"
    board = cache.get(key)
    if board is None:
        board = dash.build(co.load_cohort(request.user, flt))
        cache.set(key, board, _DASHBOARD_TTL_S)
    return board


def _dashboard_for(request: HttpRequest):
    """Filters from the query string → (dashboard, validated query form, error messages).

    Bad parameters give their messages and the whole cohort (never a 500)."""
    query = DashboardQuery(request.GET, user=request.user)
    errors = query.messages()
    try:
        board = _cached_dashboard(request, query.cohort_filter())
    except co.CohortFilterError as exc:  # e.g. mode=strict on results stored per lesion
        errors.append(str(exc))
        board = _cached_dashboard(request, co.CohortFilter())
    return board, query, errors


@require_safe  # a read-only page: POST is 405
def dashboard(request: HttpRequest) -> HttpResponse:
    """Physicians' response dashboard: remission table and every cohort figure, each with the CSV it plots."""
    _require(request, "assessment.view_visit")
    from registry import choices as registry_choices
    from reports import plots

    board, query, errors = _dashboard_for(request)
    inline = query.values()["inline"] == "1"  # every figure in the page itself (for saving the page whole)
    figures = [(f, plots.svg_inline(f.build(), f.title, f.caption) if inline and f.build else "")
               for f in board.figures]
    q = {k: v.isoformat() if hasattr(v, "isoformat") else (v or "") for k, v in query.values().items()}

    from dosimetry import selectors as dosimetry_selectors
    from registry.roles import can_see_identifiers

    return render(request, "assessment/dashboard.html", {
        "board": board, "figures": figures, "q": q, "error": " ".join(errors), "errors": errors,
        "query": query.querystring(without=("inline",)),
        "sites": registry_selectors.sites_for(request.user), "histologies": registry_choices.Histology.choices,
        # Protocol deviations (dosimetry): implants of patients not assessed eligible / not RAI-refractory.
        "protocol_deviations": dosimetry_selectors.protocol_deviations_for(request.user, limit=50),
        "protocol_deviations_total": dosimetry_selectors.count_protocol_deviations_for(request.user),
        "deviations_identified": can_see_identifiers(request.user),
        "implant_years": _implant_years(request.user),
    })


def _implant_years(user) -> list[int]:
    """The years of the implants the user may see: the reviewer's implant-period filter offers years only."""
    from dosimetry.models import ImplantProcedure

    return sorted({d.year for d in ImplantProcedure.objects.filter(
        patient__in=registry_selectors.patients_for(user)).values_list("date", flat=True)})


def _figure_or_404(request: HttpRequest, key: str):
    """The dashboard figure ``key`` under the request's filters; 404 when unknown or with nothing to draw."""
    from django.http import Http404

    board, _, errors = _dashboard_for(request)
    if errors:
        raise _BadQuery(errors)
    f = board.figure(key)
    if f is None or not f.drawable:
        raise Http404("No such figure, or nothing to plot with these filters.")
    return f


class _BadQuery(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def _bad_query_response(exc: _BadQuery) -> HttpResponse:
    return HttpResponse("\n".join(exc.messages) + "\n", status=400, content_type="text/plain; charset=utf-8")


@require_safe  # a read-only page: POST is 405
def dashboard_csv(request: HttpRequest, key: str) -> HttpResponse:
    """The CSV of exactly the data one dashboard figure draws (same filters as the page)."""
    _require(request, "assessment.view_visit")
    try:
        f = _figure_or_404(request, key)
    except _BadQuery as exc:
        return _bad_query_response(exc)
    response = HttpResponse(f.csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="seedtrack-{key}.csv"'
    return response


@require_safe  # a read-only page: POST is 405
def dashboard_flow_csv(request: HttpRequest) -> HttpResponse:
    """The patient flow (registered → eligible → implanted → evaluable per time point) with every patient missing
    at a step and the reason, as CSV (study IDs and days only; same filters as the page)."""
    _require(request, "assessment.view_visit")
    from assessment import cohort as co

    board, _, _ = _dashboard_for(request)
    response = HttpResponse(co.flow_csv(board.flow), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="seedtrack-flow.csv"'
    return response


@require_safe  # a read-only page: POST is 405
def dashboard_svg(request: HttpRequest, key: str) -> HttpResponse:
    """One dashboard figure as an accessible SVG element (same filters as the page). The page loads the figures
    separately, so the tables appear at once and each figure costs its own request."""
    _require(request, "assessment.view_visit")
    from reports import plots

    try:
        f = _figure_or_404(request, key)
    except _BadQuery as exc:
        return _bad_query_response(exc)
    return HttpResponse(plots.svg_inline(f.build(), f.title, f.caption), content_type="image/svg+xml; charset=utf-8")
