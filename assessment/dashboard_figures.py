"""What every dashboard figure shares, per patient (:mod:`assessment.dashboard`) and per lesion
(:mod:`assessment.dashboard_lesions`): the figure record, the plotted categories, the Kaplan–Meier day ticks and the
conversion of a survival estimate into the plotting module's plain arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.figure import Figure

from assessment.protocol import DashboardSettings
from assessment.survival import KaplanMeier
from reports import plots

KM_TIMES_DAYS = (0, 90, 180, 270, 365, 540, 730)
PLOT_CATEGORY = {"CR": "CR", "PR": "PR", "SD": "SD", "NON_CR_NON_PD": "SD", "PD": "PD"}  # else NE


def plot_category(overall: str) -> str:
    """The category a figure draws for a stored overall response (Non-CR/Non-PD with SD; anything else NE)."""
    return PLOT_CATEGORY.get(overall, "NE")


def km_curve(label: str, km: KaplanMeier) -> plots.KmCurve:
    """The Kaplan–Meier estimate as the plotting module's plain arrays (it knows no survival object)."""
    return plots.KmCurve(label, km.time_days, km.survival, km.ci_low, km.ci_high, km.n_at_risk, km.events,
                         km.censored, km.n_subjects, km.median_days, km.confidence)


@dataclass(frozen=True)
class DashboardFigure:
    """One figure: its id (URL slug), title, caption (what is drawn and what is left out), builder and CSV.

    Builder and CSV are ``functools.partial`` of ``reports.plots`` functions, not closures: the built dashboard
    is pickled into the shared cache when there is one (assessment/views.py)."""

    key: str
    title: str
    caption: str
    build: Callable[[], Figure] | None
    csv: Callable[[], str] | None
    empty_reason: str = ""

    @property
    def drawable(self) -> bool:
        """For templates: Django would *call* ``build`` if a template tested it, drawing the figure."""
        return self.build is not None


LESION_SETTINGS = plots.PlotSettings(unit="lesion")


def plot_settings(settings: DashboardSettings, unit: str = "patient") -> plots.PlotSettings:
    """The plotting settings of the dashboard's figures counting ``unit`` ("patient" or "lesion") under the
    protocol's ``dashboard`` section (:class:`assessment.protocol.DashboardSettings`)."""
    return plots.PlotSettings(unit=unit, aggregate_above=settings.aggregate_above_items)


def with_note(caption: str, figure: str, n_items: int, settings: plots.PlotSettings) -> str:
    """``caption`` and, when the figure is drawn aggregated, the sentence saying how (``plots.aggregation_note``)."""
    note = plots.aggregation_note(figure, n_items, settings)
    return f"{caption} {note}" if note else caption
