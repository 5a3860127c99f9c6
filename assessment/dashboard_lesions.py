"""The dashboard figures in per-lesion mode: one bar / line / point per lesion, every title says
"modified RECIST (per lesion)" and every axis counts lesions (``reports.plots.PlotSettings(unit="lesion")``).

The units come from :func:`assessment.cohort_lesions.lesion_units` (plain data, no queries). Tg is a patient-level
measure: in per-lesion mode its figure is not drawn and says why.
"""

from __future__ import annotations

from functools import partial

from assessment import cohort_data as co
from assessment.cohort_lesions import LABEL, LesionUnit, lesion_units
from assessment.dashboard_figures import (
    KM_TIMES_DAYS,
    LESION_SETTINGS,
    DashboardFigure,
    km_curve,
    plot_category,
    with_note,
)
from assessment.survival import kaplan_meier
from reports import plots

__all__ = ["LABEL", "dose_response", "km", "lesion_units", "spider", "swimmer", "tg", "volume", "waterfall"]

PS = LESION_SETTINGS


def waterfall(units: list[LesionUnit], ps: plots.PlotSettings = PS) -> tuple[DashboardFigure, list[tuple[str, str]]]:
    rows, left_out = [], []
    for u in units:
        if u.best_change_pct is None:
            left_out.append((u.name, "no baseline size" if not u.baseline_size_mm else
                             "no post-baseline size of the lesion before a new therapy"))
            continue
        rows.append(plots.WaterfallRow(u.name, max(u.best_change_pct, -100.0), plot_category(u.bor_unconfirmed)))
    title = f"Best change in lesion diameter — {LABEL}"
    caption = ("One bar per lesion: best (lowest) % change from baseline of the lesion's own diameter (SA for "
               "nodes, LD otherwise), coloured, hatched and lettered by the lesion's best overall response "
               f"(unconfirmed); guides at +20 % and −30 %. N = lesions ({LABEL}).")
    if not rows:
        return DashboardFigure("waterfall", title, caption, None, None, "no lesion has a follow-up size"), left_out
    caption = with_note(caption, "waterfall", len(rows), ps)
    return DashboardFigure("waterfall", title, caption, partial(plots.waterfall_figure, rows, title, ps),
                           partial(plots.waterfall_csv, rows, "lesion")), left_out


def spider(units: list[LesionUnit], ps: plots.PlotSettings = PS) -> DashboardFigure:
    series = []
    for u in units:
        if not u.baseline_size_mm:
            continue
        pts = [(lr.day, (lr.size_mm - u.baseline_size_mm) * 100 / u.baseline_size_mm, plot_category(lr.response))
               for lr in u.responses if lr.size_mm is not None and lr.day > 0]
        if pts:
            base = u.patient.baseline
            series.append(plots.SpiderSeries(u.name, tuple(p[0] for p in pts), tuple(max(p[1], -100.0) for p in pts),
                                             tuple(p[2] for p in pts), baseline_day=min(0, base.day) if base else 0))
    title = f"Change in lesion diameter over time — {LABEL}"
    caption = (f"One line per lesion: % change of its own diameter from baseline against days since implant; markers "
               f"give the lesion's category. N = lesions ({LABEL}).")
    if not series:
        return DashboardFigure("spider", title, caption, None, None, "no lesion has a follow-up size yet")
    caption = with_note(caption, "spider", len(series), ps)
    return DashboardFigure("spider", title, caption, partial(plots.spider_figure, series, title, ps),
                           partial(plots.spider_csv, series, "lesion"))


def swimmer(units: list[LesionUnit], ps: plots.PlotSettings = PS) -> DashboardFigure:
    rows = []
    for u in units:
        r = u.patient
        if r.last_follow_up_day is None or r.last_follow_up_day < 0:
            continue
        events = [(lr.day, plot_category(lr.response)) for lr in u.responses if 0 <= lr.day <= r.last_follow_up_day]
        if r.new_therapy_day is not None and r.new_therapy_day <= r.last_follow_up_day:
            events.append((r.new_therapy_day, "NEW_THERAPY"))
        ongoing = u.first_pd_day is None and r.new_therapy_day is None
        rows.append(plots.SwimmerRow(u.name, r.last_follow_up_day, tuple(sorted(events)), ongoing))
    title = f"Follow-up from implant with lesion responses — {LABEL}"
    caption = (f"One bar per lesion from the implant (day 0) to its patient's last follow-up, markers the lesion's "
               f"categories; arrow = follow-up ongoing. N = lesions ({LABEL}).")
    if not rows:
        return DashboardFigure("swimmer", title, caption, None, None, "no follow-up yet")
    caption = with_note(caption, "swimmer", len(rows), ps)
    return DashboardFigure("swimmer", title, caption, partial(plots.swimmer_figure, rows, title, ps),
                           partial(plots.swimmer_csv, rows, "lesion"))


def km(units: list[LesionUnit], ps: plots.PlotSettings = PS) -> DashboardFigure:
    times, events = [], []
    for u in units:
        r = u.patient
        if u.first_pd_day is not None:
            times.append(u.first_pd_day)
            events.append(True)
        elif r.last_follow_up_day is not None and r.last_follow_up_day > 0:
            end = r.last_follow_up_day if r.new_therapy_day is None else min(r.last_follow_up_day, r.new_therapy_day)
            times.append(end)
            events.append(False)
    title = f"Lesion progression-free survival (Kaplan–Meier) — {LABEL}"
    caption = ("Event: first PD of the lesion by its own diameter; censored at the patient's last follow-up or at a "
               "new anticancer therapy. Shaded: 95 % CI (log−log). Numbers at risk (lesions) below the plot; time "
               f"in days. Lesions of one patient are not independent. N = lesions ({LABEL}).")
    if not times:
        return DashboardFigure("km", title, caption, None, None, "no follow-up yet")
    curves = [km_curve("All lesions", kaplan_meier(times, events))]
    return DashboardFigure("km", title, with_note(caption, "km", len(times), ps),
                           partial(plots.km_figure, curves, KM_TIMES_DAYS, title, ps,
                                   y_label="Lesion progression-free probability"),
                           partial(plots.km_csv, curves))


def tg() -> DashboardFigure:
    title = f"Thyroglobulin under TSH suppression — {LABEL}"
    caption = f"Tg is a patient-level measure and is not drawn per lesion ({LABEL})."
    return DashboardFigure("tg", title, caption, None, None,
                           "Tg is a patient-level measure, not part of the per-lesion analysis — see the RECIST 1.1 "
                           "(per patient) view")


def volume(units: list[LesionUnit], ps: plots.PlotSettings = PS) -> DashboardFigure:
    groups = []
    for tp, label in (("baseline", "Baseline"), *co.TIMEPOINTS):
        vols = []
        for u in units:
            lr = u.at(tp)
            if lr is None or lr.volume_cm3 is None or (tp != "baseline" and u.patient.after_new_therapy(lr.day)):
                continue
            vols.append(lr.volume_cm3)
        if vols:
            groups.append(plots.VolumeGroup(label, tuple(vols)))
    title = f"Lesion volume per time point — {LABEL}"
    caption = f"Per lesion, its ellipsoid volume (π/6·a·b·c), in cm³. N = lesions ({LABEL})."
    if not groups:
        return DashboardFigure("volume", title, caption, None, None, "no volumes recorded")
    caption = with_note(caption, "volume", max(len(g.volumes_cm3) for g in groups), ps)
    return DashboardFigure("volume", title, caption, partial(plots.volume_figure, groups, title, ps),
                           partial(plots.volume_csv, groups))


def dose_response(units: list[LesionUnit], ps: plots.PlotSettings = PS) -> DashboardFigure:
    points = [plots.DoseResponsePoint(u.name, u.patient.post_d90_gy, max(u.best_change_pct, -100.0),
                                      plot_category(u.bor_unconfirmed))
              for u in units if u.patient.post_d90_gy is not None and u.best_change_pct is not None]
    rx = {u.patient.prescription_gy for u in units if u.patient.prescription_gy is not None}
    prescription = rx.pop() if len(rx) == 1 else None
    title = f"Dose–response: post-implant D90 against best lesion change — {LABEL}"
    caption = ("Post-implant target D90 of the lesion's implant (Gy, shared by the lesions of one implant) against "
               "the best % change of the lesion's own diameter, marker by the lesion's best response"
               + ("; vertical line at the prescription" if prescription else
                  "; prescriptions differ between patients, so no prescription line is drawn")
               + f". N = lesions ({LABEL}).")
    if not points:
        return DashboardFigure("dose", title, caption, None, None,
                               "no lesion has both a post-implant D90 and a follow-up size")
    caption = with_note(caption, "dose", len(points), ps)
    return DashboardFigure("dose", title, caption, partial(plots.dose_response_figure, points, prescription, title, ps),
                           partial(plots.dose_response_csv, points, "lesion"))
