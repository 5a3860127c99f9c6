"""Query-string (GET) parameters. Every page that reads ``request.GET`` validates it with one of these forms.

A bad value never reaches a queryset or a computation: the page shows one sentence per bad parameter naming the
parameter, the value it got and what is allowed (``rair: got 'x'; allowed: one of refractory, …``) and falls back
to its defaults; CSV / SVG endpoints answer 400 with the same sentences as text. A parameter given twice is an
error too (``?site=A&site=B``), never silently the last one. Unknown parameters are ignored.

``QUERY_FORMS`` maps URL names to their form, so a test can send garbage to every parameter of every page.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable

from django import forms
from django.http import QueryDict

from registry import choices as c
from registry import selectors

MAX_TEXT_CHARS = 100
SHOWN_CHARS = 40

QUERY_FORMS: dict[str, type[QueryForm]] = {}


def query_form(*url_names: str) -> Callable[[type[QueryForm]], type[QueryForm]]:
    """Class decorator: the pages (URL names) whose query string this form validates."""

    def register(cls: type[QueryForm]) -> type[QueryForm]:
        for name in url_names:
            QUERY_FORMS[name] = cls
        return cls

    return register


def _shown(value: str) -> str:
    if len(value) <= SHOWN_CHARS:
        return repr(value)
    return f"{value[:SHOWN_CHARS]!r}… ({len(value)} characters)"


def _no_control_characters(value: str) -> None:
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise forms.ValidationError("control character", code="control")


class QueryForm(forms.Form):
    """Base of the query-string forms. Each field carries ``allowed``: the phrase naming what it accepts."""

    def __init__(self, data: QueryDict | dict | None, *, user=None) -> None:
        self.user = user
        self._specific: dict[str, str] = {}
        super().__init__(data if data is not None else QueryDict(), prefix=None)
        self.add_fields()
        for field in self.fields.values():
            field.required = False

    def add_fields(self) -> None:
        """Subclasses add fields whose names are not identifiers (``from``, ``to``) or depend on the user."""

    # --- field factories -----------------------------------------------------------------------------------

    @staticmethod
    def text(label: str) -> forms.CharField:
        field = forms.CharField(max_length=MAX_TEXT_CHARS, validators=[_no_control_characters], label=label)
        field.allowed = f"text of at most {MAX_TEXT_CHARS} characters, no control characters"
        return field

    @staticmethod
    def choice(label: str, choices, *, empty: str = "empty for all") -> forms.ChoiceField:
        choices = [(str(v), str(lab)) for v, lab in choices]
        field = forms.ChoiceField(choices=[("", "")] + choices, label=label)
        values = ", ".join(v for v, _ in choices) or "(none)"
        field.allowed = f"one of {values} ({empty})"
        return field

    @staticmethod
    def date(label: str) -> forms.DateField:
        field = forms.DateField(input_formats=["%Y-%m-%d"], label=label)
        field.allowed = "a date YYYY-MM-DD (empty for no limit)"
        return field

    @staticmethod
    def positive_int(label: str, maximum: int = 1_000_000) -> forms.IntegerField:
        field = forms.IntegerField(min_value=1, max_value=maximum, label=label)
        field.allowed = f"a whole number from 1 to {maximum}"
        return field

    # --- validation --------------------------------------------------------------------------------------

    def add_problem(self, name: str, allowed: str) -> None:
        """Mark ``name`` invalid with a specific phrase of what is allowed (e.g. for a combination)."""
        self._specific[name] = allowed
        self.add_error(name, allowed)

    def full_clean(self) -> None:
        super().full_clean()
        if isinstance(self.data, QueryDict):
            for name in self.fields:
                values = self.data.getlist(name)
                if len(values) > 1:
                    self._specific[name] = "one value (the parameter is given only once)"
                    self._errors.setdefault(name, self.error_class()).append(f"given {len(values)} times")
                    self.cleaned_data.pop(name, None)

    def raw(self, name: str) -> str:
        if isinstance(self.data, QueryDict):
            values = self.data.getlist(name)
            return values[0] if len(values) == 1 else repr(values)
        return str(self.data.get(name, ""))

    def messages(self) -> list[str]:
        """One sentence per bad parameter: ``name: got 'value'; allowed: …``."""
        out = []
        for name in self.fields:
            if name not in self.errors:
                continue
            allowed = self._specific.get(name) or getattr(self.fields[name], "allowed", "")
            if isinstance(self.data, QueryDict) and len(self.data.getlist(name)) > 1:
                got = f"{len(self.data.getlist(name))} values {', '.join(map(_shown, self.data.getlist(name)))}"
            else:
                got = _shown(self.raw(name))
            out.append(f"{name}: got {got}; allowed: {allowed}")
        return out

    def values(self) -> dict:
        """The cleaned values when every parameter is valid; the defaults (all empty) otherwise."""
        if self.is_valid():
            return {name: self.cleaned_data.get(name) for name in self.fields}
        return {name: field.to_python("") for name, field in self.fields.items()}

    def querystring(self, *, without: tuple[str, ...] = ()) -> str:
        """The valid parameters re-encoded (for links that keep the filters); empty when any is bad."""
        if not self.is_valid():
            return ""
        q = QueryDict(mutable=True)
        for name in self.fields:
            value = self.cleaned_data.get(name)
            if name in without or value in (None, ""):
                continue
            q[name] = value.isoformat() if isinstance(value, dt.date) else str(value)
        return q.urlencode()


def site_choices(user) -> list[tuple[str, str]]:

    return [(code, code) for code in selectors.sites_for(user).order_by("code").values_list("code", flat=True)]


@query_form("registry:patient_list")
class PatientListQuery(QueryForm):
    def add_fields(self) -> None:

        self.fields["q"] = self.text("search")
        self.fields["site"] = self.choice("site", site_choices(self.user), empty="empty for all my sites")
        self.fields["rair"] = self.choice("RAIR status", c.RairStatus.choices, empty="empty for any")
        self.fields["eligibility"] = self.choice("eligibility", c.EligibilityStatus.choices, empty="empty for any")
        self.fields["page"] = self.positive_int("page")

    def clean_q(self) -> str:
        return (self.cleaned_data.get("q") or "").strip()


@query_form("registry:free_text")
class FreeTextQuery(QueryForm):
    """The data manager's "Free text for reviewers" page: which texts (withheld / released / all) and the page."""

    STATES = (("withheld", "withheld from reviewers"), ("released", "released to reviewers"), ("all", "all"))

    def add_fields(self) -> None:
        self.fields["state"] = self.choice("texts shown", self.STATES, empty="empty for withheld")
        self.fields["page"] = self.positive_int("page")
