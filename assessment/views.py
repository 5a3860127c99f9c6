"""Follow-up pages: the visit form (nurses), the visit result, target designation, new therapy, follow-up status,
the worklist, the physicians' dashboard and the Table 4 page (pre vs post dosimetry of the cohort analysis).

Each view finds its objects through the scoped selectors, checks the role, and calls ``assessment.services``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe

from assessment import cohort as co
from assessment import cohort_tables, selectors, services
from assessment import dashboard as dash
from assessment.cohort_data import CohortFilter, CohortFilterError, OutsideWindowVisit
from assessment.cohort_formats import flow_csv
from assessment.cohort_tables import Flow, FlowPatient, FlowStep
from assessment.forms import DesignationForm, FollowUpStatusForm, TherapyForm, VisitPageForms
from assessment.models import (
    FollowUpStatus,
    LabResult,
    LesionDesignation,
    Measurement,
    NewLesion,
    NewTherapy,
    Toxicity,
    VisitResult,
)
from assessment.queries import DashboardQuery, WorklistQuery
from common import protocol
from common.errors import InputError
from common.pages import attach_errors, require
from common.rows import gc_paused
from dosimetry import selectors as dosimetry_selectors
from dosimetry.models import ImplantProcedure
from registry import choices as registry_choices
from registry import dataversion, overrides, versioning
from registry import selectors as registry_selectors
from registry.pages import child_form, versioned_save
from registry.roles import can_see_identifiers, is_data_manager
from reports import plots


def visit_edit(request: HttpRequest, patient_pk: int | None = None, pk: int | None = None) -> HttpResponse:
    if pk is None:
        require(request, "assessment.add_visit")
        patient = registry_selectors.get_patient_for(request.user, patient_pk)
        visit = None
    else:
        require(request, "assessment.change_visit")
        visit = selectors.get_visit_for(request.user, pk)
        patient = visit.patient
    procedure = services.index_procedure(patient)
    if procedure is None:
        messages.error(request, "Record the implant procedure first: follow-up counts from its date (day 0).")
        return redirect("registry:patient_detail", pk=patient.pk)
    forms = VisitPageForms(request, patient, visit, procedure)
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
    require(request, "assessment.view_visit")
    visit = selectors.get_visit_for(request.user, pk)
    return render(request, "assessment/visit_detail.html", {
        "visit": visit, "patient": visit.patient, "result": getattr(visit, "result", None),
        "show_override_details": can_see_identifiers(request.user),  # reviewers: no free text, no dates
        "lesion_results": visit.lesion_results.select_related("lesion"),
        "measurements": visit.measurements.select_related("lesion"),
        "labs": visit.labs.all(), "toxicities": visit.toxicities.all(), "new_lesions": visit.new_lesions.all(),
        "can_change": request.user.has_perm("assessment.change_visit"),
    })


def designation_edit(request: HttpRequest, patient_pk: int) -> HttpResponse:
    require(request, "assessment.change_lesiondesignation")
    patient = registry_selectors.get_patient_for(request.user, patient_pk)
    roles, _ = services.lesion_roles(patient)
    form = DesignationForm(request.POST or None, lesions=patient.lesions.all(), roles=roles)
    mode = services.recist_settings().mode.value
    return child_form(
        request, patient, form,
        lambda: services.designation_save(user=request.user, patient=patient, roles=form.roles()),
        f"{patient} — target / non-target lesions ({'strict RECIST 1.1' if mode == 'strict' else 'modified RECIST'})",
        scope=versioning.Scope(f"assessment.lesiondesignation:patient{patient.pk}", patient.pk,
                               (versioning.Part(LesionDesignation, {"lesion__patient_id": patient.pk}),)),
    )


def therapy_create(request: HttpRequest, patient_pk: int) -> HttpResponse:
    require(request, "assessment.add_newtherapy")
    patient = registry_selectors.get_patient_for(request.user, patient_pk)
    form = TherapyForm(request.POST or None, instance=NewTherapy(patient=patient))
    return child_form(
        request, patient, form,
        lambda: services.therapy_save(user=request.user, patient=patient, data=form.cleaned_data),
        f"{patient} — new anticancer therapy (ends the response-assessment window)",
    )


def followup_status_edit(request: HttpRequest, patient_pk: int) -> HttpResponse:
    """Nurses record where the patient stands: in follow-up, completed, lost (last contact), withdrawn, died.
    A status with warnings is re-shown with them (nothing saved) until a physician saves it with a reason."""
    patient = registry_selectors.get_patient_for(request.user, patient_pk)
    status = FollowUpStatus.objects.filter(patient=patient).first()
    require(request, "assessment.change_followupstatus" if status else "assessment.add_followupstatus")
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
        except (ValidationError, InputError) as exc:
            attach_errors(exc, form)
        else:
            if ok:
                messages.success(request, f"{patient.study_id}: follow-up status saved.")
                return redirect("registry:patient_detail", pk=patient.pk)
    return render(request, "assessment/followup_status_form.html", ctx)


@require_safe  # a read-only page: POST is 405
def worklist(request: HttpRequest) -> HttpResponse:
    """Nurses' home: protocol visits overdue, due and recently missed across her sites, most urgent first."""
    require(request, "assessment.view_visit")
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
    require(request, "assessment.change_visit" if pk else "assessment.add_visit")
    patient = registry_selectors.get_patient_for(request.user, patient_pk)
    visit = selectors.get_visit_for(request.user, pk) if pk else None
    if visit is not None and visit.patient_id != patient.pk:
        return JsonResponse({"error": "visit of another patient"}, status=404)
    procedure = services.index_procedure(patient)
    if procedure is None:
        return JsonResponse({"ok": False, "message": "No implant recorded."})
    forms = VisitPageForms(request, patient, visit, procedure)
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
_DASHBOARD_LRU_ITEMS = 8  # built dashboards kept live in each process (user scopes × filters), least recent out


class _BoardLRU:
    """The built dashboards of this process, live objects (no pickling), bounded and expiring like the cache
    entries: keyed by the same data-version key, so a write makes the old entries unreachable here too."""

    def __init__(self, items: int, ttl_s: float) -> None:
        self.items, self.ttl_s = items, ttl_s
        self.boards: OrderedDict[str, tuple[float, dash.Dashboard]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> dash.Dashboard | None:
        with self.lock:
            found = self.boards.get(key)
            if found is None:
                return None
            if found[0] < time.monotonic():
                del self.boards[key]
                return None
            self.boards.move_to_end(key)
            return found[1]

    def set(self, key: str, board: dash.Dashboard) -> None:
        with self.lock:
            self.boards[key] = (time.monotonic() + self.ttl_s, board)
            self.boards.move_to_end(key)
            while len(self.boards) > self.items:
                self.boards.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.boards.clear()


_boards = _BoardLRU(_DASHBOARD_LRU_ITEMS, _DASHBOARD_TTL_S)


def clear_dashboard_cache() -> None:
    """Forget this process's built dashboards (benches measuring a cold load; the shared cache is Django's)."""
    _boards.clear()


def _shared_cache() -> bool:
    """Whether Django's cache is shared between processes (Redis): a process-local cache (locmem) would only
    pickle and unpickle what this process's LRU already holds."""
    return not isinstance(caches["default"], LocMemCache)


def _cached_dashboard(request: HttpRequest, flt: CohortFilter) -> dash.Dashboard:
    """The page and its 8 figure / CSV requests share one load of the cohort, keyed by what the user may see, the
    filters, the protocol, today's date and the data version. Every write the dashboard shows bumps that version
    in its own transaction (registry/dataversion.py), so one primary-key read decides freshness and a saved visit
    shows at once, through any process. The built dashboard is kept live in this process (``_BoardLRU``: no pickling, the page and its
    figure requests read the same object) and, when Django's cache is shared (``REDIS_URL``), also there for two
    minutes, so another web process reads it instead of building it again."""
    scope = "all" if is_data_manager(request.user) else ",".join(
        str(pk) for pk in sorted(registry_selectors.sites_for(request.user).values_list("pk", flat=True)))
    # the protocol and today's date belong to the key: windows, "not yet due" and days since the implant move
    # with the date, every table with the protocol, neither with the data version
    digest = hashlib.sha256(repr((scope, flt, protocol.digest(), timezone.localdate().isoformat())).encode()
                            ).hexdigest()[:32]
    key = f"dashboard:{dataversion.current()}:{digest}"
    board = _boards.get(key)
    if board is not None:
        return board
    shared = _shared_cache()
    board = cache.get(key) if shared else None
    if board is None:
        with gc_paused():  # load and tables: some 250 000 acyclic objects at 10 000 patients
            board = dash.build(co.load_cohort(request.user, flt))
        if shared:
            cache.set(key, board, _DASHBOARD_TTL_S)
    _boards.set(key, board)
    return board


def _dashboard_for(request: HttpRequest) -> tuple[dash.Dashboard, DashboardQuery, list[str]]:
    """Filters from the query string → (dashboard, validated query form, error messages).

    Bad parameters give their messages and the whole cohort (never a 500)."""
    query = DashboardQuery(request.GET, user=request.user)
    errors = query.messages()
    try:
        board = _cached_dashboard(request, query.cohort_filter())
    except CohortFilterError as exc:  # e.g. mode=strict on results stored per lesion
        errors.append(str(exc))
        board = _cached_dashboard(request, CohortFilter())
    return board, query, errors


def _esc(value: Any) -> str:
    """``{{ value }}`` as the template engine prints it with autoescape on: localized, then escaped unless safe."""
    return conditional_escape(localize(value))


def _patient_items(patients: Iterable[FlowPatient]) -> SafeString:
    """The ``<li>`` items of a flow step's patient list: study ID — reason: detail, each escaped."""
    return mark_safe("".join(f"<li>{_esc(p.study_id)} — {_esc(p.reason_label)}: {_esc(p.detail)}</li>"
                             for p in patients))


@dataclass(frozen=True)
class _FlowStepView:
    """A flow step with its missing and flagged patients already written as list items (thousands of study IDs
    at 10 000 patients: one f-string each instead of some 25 000 template nodes)."""

    step: FlowStep
    n_missing: int
    missing_items: SafeString
    n_flagged: int
    flagged_items: SafeString

    @classmethod
    def of(cls, step: FlowStep) -> _FlowStepView:
        missing, flagged = step.missing, step.flagged
        return cls(step, len(missing), _patient_items(missing), len(flagged), _patient_items(flagged))


def _flow_steps(f: Flow | None) -> list[_FlowStepView]:
    return [] if f is None else [_FlowStepView.of(step) for step in f.steps]


def _outside_window_rows(visits: Iterable[OutsideWindowVisit]) -> SafeString:
    """The rows of the visits-outside-their-window table: patient, time point, day, window (days)."""
    return mark_safe("".join(
        f"<tr><td>{_esc(o.study_id)}</td><td>{_esc(o.timepoint)}</td><td>{_esc(o.day)}</td>"
        f"<td>{_esc(o.window_start_day)}–{_esc(o.window_end_day)}</td></tr>" for o in visits))


def _left_out_text(left_out: Iterable[tuple[str, str]]) -> SafeString:
    """The waterfall's patients not shown: "study ID — why", separated by semicolons."""
    return mark_safe("; ".join(f"{_esc(sid)} — {_esc(why)}" for sid, why in left_out))


@require_safe  # a read-only page: POST is 405
def dashboard(request: HttpRequest) -> HttpResponse:
    """Physicians' response dashboard: remission table and every cohort figure, each with the CSV it plots."""
    require(request, "assessment.view_visit")
    board, query, errors = _dashboard_for(request)
    inline = query.values()["inline"] == "1"  # every figure in the page itself (for saving the page whole)
    figures = [(f, plots.svg_inline(f.build(), f.title, f.caption) if inline and f.build else "")
               for f in board.figures]
    q = {k: v.isoformat() if hasattr(v, "isoformat") else (v or "") for k, v in query.values().items()}
    return render(request, "assessment/dashboard.html", {
        "board": board, "figures": figures, "q": q, "error": " ".join(errors), "errors": errors,
        # the long lists of study IDs, written here rather than looped over in the template (same HTML)
        "flow_steps": _flow_steps(board.flow), "outside_window_rows": _outside_window_rows(board.table1.outside_window),
        "waterfall_left_out": _left_out_text(board.waterfall_left_out),
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

    return sorted({d.year for d in ImplantProcedure.objects.filter(  # distinct dates: some 1 000 of 10 000
        patient__in=registry_selectors.patients_for(user)).order_by().values_list("date", flat=True).distinct()})


def _figure_or_404(request: HttpRequest, key: str) -> dash.DashboardFigure:
    """The dashboard figure ``key`` under the request's filters; 404 when unknown or with nothing to draw."""

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
    require(request, "assessment.view_visit")
    try:
        f = _figure_or_404(request, key)
    except _BadQuery as exc:
        return _bad_query_response(exc)
    response = HttpResponse(f.csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="seedtrack-{key}.csv"'
    return response


@require_safe  # a read-only page: POST is 405
def table4(request: HttpRequest) -> HttpResponse:
    """Table 4 of every implant the user may see: pre-plan vs post-implant plan of record (the cohort analysis'
    comparison, ``cohort_tables.pre_post_summary``, of the pairs dosimetry loads)."""
    require(request, "dosimetry.view_doseplan")
    procedures = ImplantProcedure.objects.filter(
        patient__in=registry_selectors.patients_for(request.user)).prefetch_related("plans__structures")
    table = cohort_tables.pre_post_summary(dosimetry_selectors.pre_post_pairs(procedures))
    return render(request, "dosimetry/table4.html", {"table": table})


@require_safe  # a read-only page: POST is 405
def dashboard_flow_csv(request: HttpRequest) -> HttpResponse:
    """The patient flow (registered → eligible → implanted → evaluable per time point) with every patient missing
    at a step and the reason, as CSV (study IDs and days only; same filters as the page)."""
    require(request, "assessment.view_visit")
    board, _, _ = _dashboard_for(request)
    response = HttpResponse(flow_csv(board.flow), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="seedtrack-flow.csv"'
    return response


@require_safe  # a read-only page: POST is 405
def dashboard_svg(request: HttpRequest, key: str) -> HttpResponse:
    """One dashboard figure as an accessible SVG element (same filters as the page). The page loads the figures
    separately, so the tables appear at once and each figure costs its own request."""
    require(request, "assessment.view_visit")
    try:
        f = _figure_or_404(request, key)
    except _BadQuery as exc:
        return _bad_query_response(exc)
    return HttpResponse(plots.svg_inline(f.build(), f.title, f.caption), content_type="image/svg+xml; charset=utf-8")
