"""The physicians' dashboard: the loaded cohort (``assessment.cohort``) turned into the figures of
``reports.plots`` and their CSVs. No queries here — everything comes from the :class:`~assessment.cohort_data.Cohort`
records — so the page, the CSV downloads and a future PDF draw exactly the same data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from assessment import cohort_data as co
from assessment import cohort_tables as ct
from assessment import dashboard_lesions as dl
from assessment.dashboard_figures import (
    KM_TIMES_DAYS,
    DashboardFigure,
    km_curve,
    plot_category,
    plot_settings,
    with_note,
)
from assessment.protocol import DashboardSettings
from assessment.schedule import BASELINE
from assessment.survival import kaplan_meier
from assessment.toxicity import summarise_worst_grades
from common import protocol
from reports import plots

R = TypeVar("R")
T = TypeVar("T")

TIMEPOINTS = (("baseline", "Baseline"), ("m2", "2 months"), ("m6", "6 months"), ("m12", "12 months"))
def _remission(c: co.Cohort, t1: co.Table1, ps: plots.PlotSettings) -> DashboardFigure:
    rows = []
    for row in t1.rows:
        for rate in (row.remission, row.orr):
            if rate.proportion is not None:
                p = rate.proportion
                rows.append(plots.RateBar(row.label, rate.name, p.n, p.N, p.ci_low_pct, p.ci_high_pct))
    title = f"Remission and ORR per time point — {t1.mode_label}"
    caption = (f"Population: evaluable at each time point ({'; '.join(r.population for r in t1.rows)}). "
               f"Bars: rate in % of the {t1.unit}s assessed at each time point, error bars the Wilson 95 % CI, "
               f"labels n/N. Remission = {t1.remission_label}.")
    if not rows:
        return DashboardFigure("remission", title, caption, None, None, "no time point has a computed response")
    return DashboardFigure("remission", title, caption, partial(plots.remission_bars_figure, rows, title, ps),
                           partial(plots.remission_bars_csv, rows))


def _waterfall(c: co.Cohort, ps: plots.PlotSettings) -> tuple[DashboardFigure, list[tuple[str, str]]]:
    rows, left_out = [], []
    k = c.columns
    sum_mm = k.visits.sum_mm
    for sid, best, bor, base in zip(k.study_id, k.best_change_pct, k.bor_unconfirmed, k.visit_at(BASELINE),
                                    strict=True):
        if best is None:
            why = "no baseline sum" if base < 0 or sum_mm[base] is None else (
                "no post-baseline sum of all targets before a new therapy")
            left_out.append((sid, why))
            continue
        rows.append(plots.WaterfallRow(sid, max(best, -100.0), plot_category(bor)))
    title = "Best change in the sum of diameters (RECIST 1.1)"
    caption = ("One bar per patient: best (lowest) % change from baseline of the sum of target diameters, "
               "coloured, hatched and lettered by best overall response (unconfirmed); guides at +20 % and −30 %.")
    if not rows:
        return DashboardFigure("waterfall", title, caption, None, None, "no patient has a follow-up sum"), left_out
    caption = with_note(caption, "waterfall", len(rows), ps)
    return DashboardFigure("waterfall", title, caption, partial(plots.waterfall_figure, rows, title, ps),
                           partial(plots.waterfall_csv, rows)), left_out


class LazyRows(Generic[R]):
    """A figure's per-patient rows (``reports.plots`` dataclasses, each validated when made), made from their plain
    argument tuples on first use and kept: the page itself only counts them (captions), its figure and CSV
    requests draw them. Picklable (a class and tuples), for the shared cache."""

    def __init__(self, make: Callable[..., R], args: tuple[tuple[Any, ...], ...]) -> None:
        self.make, self.args = make, args
        self.rows: list[R] | None = None

    def __call__(self) -> list[R]:
        if self.rows is None:  # two threads at once make equal lists; either is kept
            self.rows = [self.make(*a) for a in self.args]
        return self.rows


def _drawn(fn: Callable[..., T], rows: LazyRows[Any], *args: Any) -> T:
    """``fn(rows(), *args)``: a figure or CSV of :class:`LazyRows` (a module function, so partials pickle)."""
    return fn(rows(), *args)


def _spider(c: co.Cohort, ps: plots.PlotSettings) -> DashboardFigure:
    series = []
    k = c.columns
    v = k.visits
    is_baseline, day, change, overall = v.is_baseline.tolist(), v.day, v.change_from_baseline_pct, v.overall
    for sid, rows_of, base in zip(k.study_id, k.visit_rows(), k.visit_at(BASELINE), strict=True):
        pts = [(day[i], change[i], plot_category(overall[i])) for i in rows_of
               if not is_baseline[i] and change[i] is not None and day[i] > 0]
        if pts:
            base_day = min(0, day[base]) if base >= 0 else 0
            series.append((sid, tuple(p[0] for p in pts), tuple(max(p[1], -100.0) for p in pts),
                           tuple(p[2] for p in pts), base_day))
    title = "Change in the sum of diameters over time"
    caption = "% change from baseline against days since implant; markers give the time-point category."
    if not series:
        return DashboardFigure("spider", title, caption, None, None, "no follow-up sums yet")
    caption = with_note(caption, "spider", len(series), ps)
    rows = LazyRows(plots.SpiderSeries, tuple(series))
    return DashboardFigure("spider", title, caption, partial(_drawn, plots.spider_figure, rows, title, ps),
                           partial(_drawn, plots.spider_csv, rows))


END_MARKERS = {"completed": "COMPLETED", "lost": "LOST", "withdrawn": "WITHDRAWN", "died": "DIED"}


def _swimmer(c: co.Cohort, ps: plots.PlotSettings) -> DashboardFigure:
    rows = []
    k = c.columns
    v = k.visits
    is_baseline, day, overall = v.is_baseline.tolist(), v.day, v.overall
    for sid, rows_of, last, status, status_day, therapy_day in zip(
            k.study_id, k.visit_rows(), k.last_follow_up_day, k.followup_status, k.status_day, k.new_therapy_day,
            strict=True):
        left = status in co.LEFT_FOLLOW_UP
        ended = left and status_day is not None
        end = max(last or 0, status_day if ended and status_day is not None else 0)
        if last is None and not ended:
            continue
        events = [(day[i], plot_category(overall[i])) for i in rows_of
                  if not is_baseline[i] and overall[i] and 0 <= day[i] <= end]
        if therapy_day is not None and therapy_day <= end:
            events.append((therapy_day, "NEW_THERAPY"))
        if ended:
            events.append((end, END_MARKERS[status]))
        rows.append((sid, end, tuple(sorted(events)), not left))
    title = "Follow-up from implant with responses"
    caption = (f"Population: all implanted with follow-up after the implant (n = {len(rows)} of {len(c.patients)}). "
               "One bar per patient from the implant (day 0) to the last follow-up, or to the death, withdrawal, "
               "completion or last contact (lost to follow-up), marked at the bar's end; arrow = still in follow-up "
               "(no follow-up status recorded counts as in follow-up).")
    if not rows:
        return DashboardFigure("swimmer", title, caption, None, None, "no follow-up yet")
    caption = with_note(caption, "swimmer", len(rows), ps)
    lazy = LazyRows(plots.SwimmerRow, tuple(rows))
    return DashboardFigure("swimmer", title, caption, partial(_drawn, plots.swimmer_figure, lazy, title, ps),
                           partial(_drawn, plots.swimmer_csv, lazy))


def _km(c: co.Cohort, ps: plots.PlotSettings) -> DashboardFigure:
    times, events = [], []
    k = c.columns
    for first_pd, last, therapy_day in zip(k.first_pd_day, k.last_follow_up_day, k.new_therapy_day, strict=True):
        if first_pd is not None:
            times.append(first_pd)
            events.append(True)
        elif last is not None and last > 0:
            times.append(last if therapy_day is None else min(last, therapy_day))
            events.append(False)
    title = "Local progression-free survival (Kaplan–Meier)"
    caption = (f"Population: all implanted with follow-up after the implant (n = {len(times)} of "
               f"{len(c.patients)}). Event: first RECIST progression (PD); censored at the last follow-up or at a new anticancer "
               "therapy. Shaded: 95 % CI (log−log). Numbers at risk below the plot; time in days.")
    if not times:
        return DashboardFigure("km", title, caption, None, None, "no follow-up yet")
    km = kaplan_meier(times, events)
    curves = [km_curve("All patients", km)]
    return DashboardFigure("km", title, with_note(caption, "km", len(times), ps),
                           partial(plots.km_figure, curves, KM_TIMES_DAYS, title, ps,
                                   y_label="Local progression-free probability"),
                           partial(plots.km_csv, curves))


def _os(c: co.Cohort, ps: plots.PlotSettings) -> tuple[DashboardFigure, tuple[str, ...]]:
    """Overall survival: death from any cause; censored at the last known alive day (the latest of the last visit
    and the last contact). Patients with nothing known after the implant are left out and listed."""
    times, events, left_out = [], [], []
    k = c.columns
    day = k.visits.day
    for sid, rows_of, status, status_day in zip(k.study_id, k.visit_rows(), k.followup_status, k.status_day,
                                                strict=True):
        died = status == co.DIED
        if died and status_day is not None:
            times.append(status_day)
            events.append(True)
            continue
        # the last known alive day: the latest of the last visit and the last contact (a status other than death)
        days = [day[i] for i in rows_of if day[i] > 0]
        if status_day is not None and not died:
            days.append(status_day)
        if days:
            times.append(max(days))
            events.append(False)
        else:
            left_out.append(sid)
    n_deaths = sum(events)
    title = "Overall survival (Kaplan–Meier)"
    caption = (f"Population: all implanted with something known after the implant (n = {len(times)} of "
               f"{len(c.patients)}). Event: death from any cause ({n_deaths} of {len(times)} patients); censored at the last known alive "
               "day (the latest of the last visit and the last contact). Shaded: 95 % CI (log−log). Numbers at risk "
               "below the plot; time in days."
               + (f" Not shown ({len(left_out)}, nothing known after the implant): {', '.join(left_out)}."
                  if left_out else ""))
    if not times:
        return DashboardFigure("os", title, caption, None, None, "no follow-up yet"), tuple(left_out)
    curves = [km_curve("All patients", kaplan_meier(times, events))]
    return DashboardFigure("os", title, with_note(caption, "km", len(times), ps),
                           partial(plots.km_figure, curves, KM_TIMES_DAYS, title, ps,
                                   y_label="Overall survival probability"),
                           partial(plots.km_csv, curves)), tuple(left_out)


def _tg(c: co.Cohort, ps: plots.PlotSettings) -> DashboardFigure:
    series, limits = [], Counter()
    k = c.columns
    t = k.tg
    suppressed, day, value, qualifier = t.suppressed.tolist(), t.day, t.value_ng_ml, t.qualifier
    for sid, rows_of in zip(k.study_id, k.tg_rows(), strict=True):
        pts = sorted((day[i], value[i], qualifier[i]) for i in rows_of if suppressed[i] and value[i] > 0)
        if pts:
            series.append((sid, tuple(p[0] for p in pts), tuple(p[1] for p in pts), tuple(p[2] for p in pts)))
            limits.update(p[1] for p in pts if p[2] == "<")
    loq = limits.most_common(1)[0][0] if limits else None
    title = "Thyroglobulin under TSH suppression"
    caption = ("Tg (ng/mL = µg/L, log scale) against days since implant; open down-triangles are '<' results "
               "plotted at their limit, up-triangles '>' results"
               + (f"; dashed line: the most frequent quantification limit ({loq:g} ng/mL)." if loq else "."))
    if not series:
        return DashboardFigure("tg", title, caption, None, None, "no Tg results")
    caption = with_note(caption, "tg", len(series), ps)
    rows = LazyRows(plots.TgSeries, tuple(series))
    return DashboardFigure("tg", title, caption, partial(_drawn, plots.tg_figure, rows, loq, title, ps),
                           partial(_drawn, plots.tg_csv, rows))


def _volume(c: co.Cohort, ps: plots.PlotSettings) -> DashboardFigure:
    groups = []
    for tp, label in TIMEPOINTS:
        volume = c.columns.visits.volume_cm3
        vols = tuple(x for v in c.columns.visit_at(tp) if v >= 0 and (x := volume[v]) is not None)
        if vols:
            groups.append(plots.VolumeGroup(label, vols))
    title = "Total lesion volume per time point"
    caption = ("Per patient, the sum of the ellipsoid volumes (π/6·a·b·c) of the followed lesions, in cm³; each box "
               "is every implanted patient with a volume at that visit (n below each box; Table 2 gives the paired "
               "comparisons).")
    if not groups:
        return DashboardFigure("volume", title, caption, None, None, "no volumes recorded")
    caption = with_note(caption, "volume", max(len(g.volumes_cm3) for g in groups), ps)
    return DashboardFigure("volume", title, caption, partial(plots.volume_figure, groups, title, ps),
                           partial(plots.volume_csv, groups))


def _dose_response(c: co.Cohort, ps: plots.PlotSettings) -> DashboardFigure:
    k = c.columns
    points = [plots.DoseResponsePoint(sid, d90, max(best, -100.0), plot_category(bor))
              for sid, d90, best, bor in zip(k.study_id, k.post_d90_gy, k.best_change_pct, k.bor_unconfirmed,
                                             strict=True)
              if d90 is not None and best is not None]
    rx = {x for x in k.prescription_gy if x is not None}
    prescription = rx.pop() if len(rx) == 1 else None
    title = "Dose–response: post-implant D90 against best change"
    caption = ("Post-implant target D90 (Gy) against the best % change of the sum of diameters, marker by best "
               "response" + ("; vertical line at the prescription." if prescription else
                             "; prescriptions differ between patients, so no prescription line is drawn."))
    if not points:
        return DashboardFigure("dose", title, caption, None, None, "no patient has both a post-implant D90 and a follow-up sum")
    caption = with_note(caption, "dose", len(points), ps)
    return DashboardFigure("dose", title, caption, partial(plots.dose_response_figure, points, prescription, title, ps),
                           partial(plots.dose_response_csv, points))


@dataclass(frozen=True)
class ToxicityRow:
    scale: str
    grades: tuple[int, ...]  # scored patients with worst grade 0, 1, 2, 3, 4
    not_scored: int  # no follow-up visit / no grade recorded: never counted as grade 0
    n_scored: int = 0
    cells: tuple[str, ...] = ()  # "n (p %)" of the scored patients
    note: str = ""


def toxicity_table(c: co.Cohort) -> list[ToxicityRow]:
    """Worst grade per patient (``toxicity.summarise_worst_grades``): patients without any follow-up visit are
    "not scored" on both scales; on the CTCAE row a followed-up patient with no complication recorded is grade 0;
    on the RTOG/EORTC row a patient without a recorded skin grade is not scored. % of the scored patients."""
    k = c.columns
    rtog = summarise_worst_grades("RTOG/EORTC skin (worst grade per patient)", iter(k.max_rtog_grade), range(5))
    ctcae = summarise_worst_grades(
        "CTCAE v5 procedure complications (worst grade per patient; 0 = followed up, none recorded)",
        (grade if grade is not None else (0 if followed else None)
         for grade, followed in zip(k.max_ctcae_grade, k.followed_up(), strict=True)), range(5))
    return [ToxicityRow(s.scale, s.counts, s.n_not_scored, s.n_scored, s.cells, s.denominator_text)
            for s in (rtog, ctcae)]


@dataclass(frozen=True)
class Dashboard:
    # The patients counted, not the cohort itself: the built dashboard is pickled into the shared cache and read
    # back by the page and each of its figure requests; the whole cohort tripled what each of them unpickled.
    n_patients: int
    table1: co.Table1
    table2: co.Table2
    figures: tuple[DashboardFigure, ...]
    waterfall_left_out: tuple[tuple[str, str], ...]
    toxicity: tuple[ToxicityRow, ...]
    flow: co.Flow  # patients, in either mode
    populations: tuple[co.Population, ...]

    def figure(self, key: str) -> DashboardFigure | None:
        return next((f for f in self.figures if f.key == key), None)


def build(c: co.Cohort, settings: DashboardSettings | None = None) -> Dashboard:
    """The dashboard of the loaded cohort; ``settings`` default to the protocol's ``dashboard`` section (above how
    many items a figure is drawn aggregated). The patient flow and the populations count patients in either mode
    (Table 1 names its per-lesion rows after the same evaluable patients), as the cohort report gives them."""
    if settings is None:
        settings = protocol.section_settings("dashboard", DashboardSettings)
    t1 = ct.table1(c)
    if c.mode == "per_lesion":  # every figure counts lesions and says "modified RECIST (per lesion)"
        ps = plot_settings(settings, "lesion")
        units = dl.lesion_units(c)
        waterfall, left_out = dl.waterfall(units, ps)
        figures: tuple[DashboardFigure, ...] = (
            _remission(c, t1, ps), waterfall, dl.spider(units, ps), dl.swimmer(units, ps), dl.km(units, ps), dl.tg(),
            dl.volume(units, ps), dl.dose_response(units, ps))
    else:
        ps = plot_settings(settings)
        waterfall, left_out = _waterfall(c, ps)
        os_figure, _ = _os(c, ps)
        figures = (_remission(c, t1, ps), waterfall, _spider(c, ps), _swimmer(c, ps), _km(c, ps), os_figure,
                   _tg(c, ps), _volume(c, ps), _dose_response(c, ps))
    pops = (co.implanted(c), *(co.evaluable(c, tp) for tp, _ in co.TIMEPOINTS))
    return Dashboard(len(c.patients), t1, ct.table2(c), figures, tuple(left_out), tuple(toxicity_table(c)), ct.flow(c),
                     pops)
