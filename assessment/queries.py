"""Query-string forms of the follow-up pages (see ``registry/queries.py``)."""

from __future__ import annotations

from assessment import choices as c
from assessment.cohort_data import MODE_LABELS, MODES, CohortFilter
from registry import choices as rc
from registry.queries import QueryForm, query_form, site_choices
from registry.roles import can_see_identifiers

INLINE_CHOICES = (("0", "figures loaded separately"), ("1", "every figure in the page"))


@query_form("assessment:worklist")
class WorklistQuery(QueryForm):
    def add_fields(self) -> None:
        self.fields["site"] = self.choice("site", site_choices(self.user), empty="empty for all my sites")


@query_form("assessment:visit_create")
class VisitCreateQuery(QueryForm):
    def add_fields(self) -> None:
        self.fields["timepoint"] = self.choice("time point", c.Timepoint.choices,
                                               empty="empty to have it suggested from the date")


@query_form("assessment:dashboard", "assessment:dashboard_csv", "assessment:dashboard_svg")
class DashboardQuery(QueryForm):
    """The dashboard filters: site, implant period (from ≤ to), histology, analysis mode; ``inline`` draws every
    figure in the page itself. Choices come from the models, so the form cannot ask for what does not exist."""

    def add_fields(self) -> None:
        self.fields["site"] = self.choice("site", site_choices(self.user), empty="empty for all my sites")
        self.fields["from"] = self.date("implant from")
        self.fields["to"] = self.date("implant to")
        self.fields["histology"] = self.choice("histology", rc.Histology.choices, empty="empty for all")
        self.fields["mode"] = self.choice("mode", [(m, MODE_LABELS.get(m, m)) for m in MODES], empty="empty for the protocol's")
        self.fields["inline"] = self.choice("inline", INLINE_CHOICES, empty="empty for 0")

    def clean(self):
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if start and end and start > end:
            self.add_problem("from", f"a date on or before to ({end.isoformat()})")
        self.clean_reviewer_years(start, end)
        return data

    def clean_reviewer_years(self, start, end) -> None:
        """Reviewers filter by implant year only: a day-exact period would reveal implant dates by bisection."""
        if self.user is None or can_see_identifiers(self.user):
            return
        if start and (start.month, start.day) != (1, 1):
            self.add_problem("from", f"1 January of a year, e.g. {start.year}-01-01 (reviewers filter by implant year)")
        if end and (end.month, end.day) != (12, 31):
            self.add_problem("to", f"31 December of a year, e.g. {end.year}-12-31 (reviewers filter by implant year)")

    def cohort_filter(self):
        """The ``CohortFilter`` of valid parameters; the whole cohort when any is bad."""
        v = self.values()
        return CohortFilter(site=v["site"] or None, implant_from=v["from"], implant_to=v["to"],
                            histology=v["histology"] or None, mode=v["mode"] or None)
