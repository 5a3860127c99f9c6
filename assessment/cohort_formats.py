"""The report formats of the cohort analysis: the JSON-ready dict, the tidy CSV and the aligned text that
``manage.py cohort_report`` prints, and the flow diagram as CSV (the dashboard's download).

They only lay out what :mod:`assessment.cohort_tables` computed from a loaded cohort; no number is computed here.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Any

from django.utils import timezone

from assessment.cohort_data import MODE_LABELS, TIMEPOINTS, Cohort, evaluable, implanted
from assessment.cohort_tables import Flow, flow, table1, table2, table3, table4


def flow_csv(f: Flow) -> str:
    """One row per step and patient: step, step_label, n, of, study_id, counted, reason, detail (steps without
    anyone missing give one row with empty patient columns)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("step", "step_label", "n", "of", "study_id", "counted", "reason", "detail"))
    for step in f.steps:
        if not step.patients:
            w.writerow((step.key, step.label, step.n, step.of, "", "", "", ""))
        for p in step.patients:
            w.writerow((step.key, step.label, step.n, step.of, p.study_id, "yes" if p.counted else "no",
                        p.reason_label, p.detail))
    return out.getvalue()


# --- reports -----------------------------------------------------------------------------------------------------


def _plain(x: Any) -> Any:
    """JSON-ready: dataclasses → dicts, enums → values, dates → ISO, Fractions/Decimals → float, NaN/inf → None.

    Which rule applies depends on the value's type only, so it is found once per type (:func:`_plain_rule`) and
    kept; a report's tens of thousands of values then cost one dictionary look-up each."""
    if type(x) is str:  # most values of a report (the study IDs of its listings): answered before any other test
        return x
    rule = _PLAIN_RULES.get(type(x))
    if rule is None:
        rule = _PLAIN_RULES[type(x)] = _plain_rule(type(x))
    return rule(x)


def _same(x: Any) -> Any:
    return x


def _number(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def _iso(x: date) -> str:
    return x.isoformat()


def _enum_value(x: Enum) -> Any:
    return x.value


def _sequence(x: Sequence[Any]) -> list[Any]:
    return [v if type(v) is str else _plain(v) for v in x]


def _mapping(x: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): v if type(v) is str else _plain(v) for k, v in x.items()}


def _item(x: Any) -> Any:  # numpy scalar
    return _plain(x.item())


def _plain_rule(t: type) -> Any:
    """The rule of :func:`_plain` for values of type ``t``, tested in this order: dataclass, enum, None / bool /
    str / int as they are, number, date, mapping, sequence, numpy scalar."""
    if is_dataclass(t):
        names = tuple(f.name for f in fields(t))

        def dataclass_dict(x: Any) -> dict[str, Any]:
            return {n: v if type(v := getattr(x, n)) is str else _plain(v) for n in names}
        return dataclass_dict
    if issubclass(t, Enum):
        return _enum_value
    if t is type(None) or issubclass(t, bool | str | int):
        return _same
    if issubclass(t, float | Fraction | Decimal):
        return _number
    if issubclass(t, date | datetime):
        return _iso
    if issubclass(t, Mapping):
        return _mapping
    if issubclass(t, Sequence):
        return _sequence
    if hasattr(t, "item"):
        return _item

    def unknown(x: Any) -> Any:
        raise TypeError(f"cannot make {type(x).__name__} JSON-ready")
    return unknown


_PLAIN_RULES: dict[type, Any] = {}


# --- JSON text ---------------------------------------------------------------------------------------------------


class _NotPlainJson(Exception):
    """A value :func:`json_text` leaves to :func:`json.dumps` (a key or leaf outside plain JSON, a cycle)."""


_INDENT = "  "
_encode_str = json.encoder.encode_basestring  # the C escaper of ensure_ascii=False (keeps non-ASCII)


def _json_float(x: float) -> str:
    if x != x or x in (math.inf, -math.inf):
        raise _NotPlainJson  # json.dumps(allow_nan=False) raises its own ValueError
    return float.__repr__(x)


def _json_value(x: Any, level: int, out: list[str]) -> None:
    """Append the indented JSON of ``x`` at nesting ``level`` to ``out``, as ``json.dumps(indent=2)`` writes it
    (same tests in the same order: str, None, True, False, int, float, list / tuple, dict)."""
    if isinstance(x, str):
        out.append(_encode_str(x))
    elif x is None:
        out.append("null")
    elif x is True:
        out.append("true")
    elif x is False:
        out.append("false")
    elif isinstance(x, int):
        out.append(int.__repr__(x))
    elif isinstance(x, float):
        out.append(_json_float(x))
    elif isinstance(x, list | tuple):
        if not x:
            out.append("[]")
            return
        inner = "\n" + _INDENT * (level + 1)
        if all(type(v) is str for v in x):  # a listing of study IDs: one join
            out.append("[" + inner + ("," + inner).join(map(_encode_str, x)) + "\n" + _INDENT * level + "]")
            return
        out.append("[")
        first = True
        for v in x:
            out.append(inner if first else "," + inner)
            first = False
            _json_value(v, level + 1, out)
        out.append("\n" + _INDENT * level + "]")
    elif isinstance(x, dict):
        if not x:
            out.append("{}")
            return
        inner = "\n" + _INDENT * (level + 1)
        out.append("{")
        first = True
        for k, v in x.items():
            if type(k) is not str:
                raise _NotPlainJson  # json.dumps turns numbers, booleans and None into keys; left to it
            out.append((inner if first else "," + inner) + _encode_str(k) + ": ")
            first = False
            if type(v) is str:
                out.append(_encode_str(v))
            else:
                _json_value(v, level + 1, out)
        out.append("\n" + _INDENT * level + "}")
    else:
        raise _NotPlainJson


def json_text(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)``, character for character, written
    without the standard library's pure-Python indenting encoder (some 200 000 generator steps for a report of
    10 000 patients): strings through its C escaper, lists of strings joined at once. Anything outside plain
    JSON (keys that are not strings, NaN, other types, cycles) is handed to ``json.dumps`` itself, so it gives
    the same text or raises the same error."""
    out: list[str] = []
    try:
        _json_value(value, 0, out)
    except (_NotPlainJson, RecursionError):
        return json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)
    return "".join(out)


def report(c: Cohort, *, listings: bool = True) -> dict[str, Any]:
    """The whole analysis as a JSON-ready dict (floats, ints, strings, lists, None; no NaN). Without
    ``listings`` the populations and the flow are left out (the CSV prints neither, so it does not build them)."""
    rep = {
        "filter": _plain(c.filter),
        "mode": c.mode,
        "mode_label": MODE_LABELS[c.mode],
        "rule_set": c.rule_set,
        "patient_rule_set": c.patient_rule_set,
        "remission_definition": c.remission_definition,
        "n_patients": len(c.patients),
        "table1": _plain(table1(c)),
        "table2": _plain(table2(c)),
        "table3": _plain(table3(c)),
        "table4": _plain(table4(c)),
    }
    if listings:
        rep["populations"] = _plain([implanted(c), *(evaluable(c, tp) for tp, _ in TIMEPOINTS)])
        rep["flow"] = _plain(flow(c))
    rep["generated_at"] = timezone.now().isoformat()
    return rep


def report_json(c: Cohort) -> str:
    """The report as ``manage.py cohort_report --format json`` prints it: :func:`report`, indented by two spaces,
    non-ASCII kept (the text of ``json.dumps(report(c), ensure_ascii=False, indent=2, allow_nan=False)``)."""
    return json_text(report(c))


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(f"{prefix}.{k}" if prefix else k, v)
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for i, v in enumerate(value):
            yield from _flatten(f"{prefix}.{i}", v)
    elif isinstance(value, list):
        yield prefix, "; ".join(str(v) for v in value)
    else:
        yield prefix, value


ROW_KEYS = {"rows": ("timepoint", "factor", "key"), "bor": ("kind",), "volume": ("timepoint",), "tg": ("timepoint",)}


def report_csv(c: Cohort) -> str:
    """One tidy CSV (table, row, column, value): metadata rows first, then every cell of Tables 1–4."""
    rep = report(c, listings=False)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("table", "row", "column", "value"))
    for key in ("mode", "mode_label", "rule_set", "patient_rule_set", "remission_definition", "n_patients",
                "generated_at"):
        w.writerow(("report", "", key, rep[key]))
    for col, value in _flatten("", rep["filter"]):
        w.writerow(("report", "filter", col, "" if value is None else value))
    for t in ("table1", "table2", "table3", "table4"):
        table = rep[t]
        for key, value in table.items():
            if key in ROW_KEYS and isinstance(value, list):
                for row in value:
                    name = next(row[k] for k in ROW_KEYS[key] if k in row)
                    row_id = name if key == "rows" else f"{key}:{name}"
                    for col, v in _flatten("", row):
                        w.writerow((t, row_id, col, "" if v is None else v))
            else:
                for col, v in _flatten(key, value):
                    w.writerow((t, "", col, "" if v is None else v))
    return out.getvalue()


def _lines_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*r).rstrip() for r in rows)]


def _listing(title: str, names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit]) + (f" … (+{len(names) - limit})" if len(names) > limit else "")
    return f"  {title} ({len(names)}): {shown}"


def report_text(c: Cohort) -> str:
    """Aligned plain text of Tables 1–4 for a terminal."""
    f = c.filter
    t1, t2, t3, t4 = table1(c), table2(c), table3(c), table4(c)
    out = [
        "SeedTrack cohort report",
        f"Generated {timezone.now().isoformat(timespec='seconds')}",
        f"Filter: site {f.site or 'all'}; implant {f.implant_from or '…'} to {f.implant_to or '…'}; "
        f"histology {f.histology or 'all'}",
        f"Mode: {MODE_LABELS[c.mode]} — rule set {c.rule_set}; patients: {len(c.patients)}",
        "",
        f"Table 1. Response per time point — {t1.mode_label}, rule set {t1.rule_set}, unit: {t1.unit}",
    ]
    rows = [(r.label, str(r.n), str(r.counts.cr), str(r.counts.pr), str(r.counts.sd), str(r.counts.pd),
             str(r.counts.ne), r.remission.text, r.orr.text) for r in t1.rows]
    out += _lines_table(("Time point", "N", "CR", "PR", "SD", "PD", "NE", t1.remission_label, "ORR (CR+PR)"), rows)
    for r in t1.rows:
        if r.not_assessed:
            out.append(_listing(f"{r.label} not assessed", r.not_assessed))
        if r.after_new_therapy:
            out.append(_listing(f"{r.label} after new therapy (left out)", r.after_new_therapy))
        out.append(f"  {r.label} population: {r.population}")
    if t1.outside_window:
        out.append(_listing("Visits outside their window" + (" (not counted)" if t1.in_window_only else " (counted)"),
                            [o.text for o in t1.outside_window]))
    out.append(f"Best overall response per {t1.unit} ({t1.bor_rule_set}):")
    rows = [(b.kind, str(b.n), str(b.counts.cr), str(b.counts.pr), str(b.counts.sd), str(b.counts.pd),
             str(b.counts.ne), b.remission.text, b.orr.text) for b in t1.bor]
    out += _lines_table(("BOR", "N", "CR", "PR", "SD", "PD", "NE", t1.remission_label, "ORR (CR+PR)"), rows)
    out += [f"  Note: {n}" for n in t1.notes]

    out += ["", f"Table 2. Lesion volume and Tg — {t2.unit} level ({t2.rule_set}"
                f"{', ' + MODE_LABELS[c.mode] if c.mode == 'per_lesion' else ''})"]
    rows = [(r.label, str(r.n), r.baseline_text or "—", r.text, r.vs_baseline.text if r.vs_baseline else r.note or "—",
             f"{r.vs_baseline_auto.test}: {r.vs_baseline_auto.text}" if r.vs_baseline_auto else "—")
            for r in t2.volume]
    out += _lines_table(("Volume (cm³)", "n", "paired baseline", "mean ± SD", "paired t vs baseline", "auto test"),
                        rows)
    out.append("")
    rows = [(r.label, str(r.n), f"{r.n_left_censored}/{r.n_right_censored}", r.baseline_text or "—", r.text,
             r.vs_baseline.text if r.vs_baseline else r.note or "—",
             f"{r.vs_baseline_auto.test}: {r.vs_baseline_auto.text}" if r.vs_baseline_auto else "—") for r in t2.tg]
    out += _lines_table(("Tg (ng/mL)", "n", "</>", "paired baseline", "median (P25, P75)", "Wilcoxon vs baseline",
                         "auto test"), rows)
    out += [f"  {r.label} population: {r.population}" for r in t2.volume]
    out += [f"  Note: {n}" for n in t2.notes]

    out += ["", f"Table 3. 12-month efficacy by factor — per {t3.unit} ({t3.rule_set}"
                f"{', ' + MODE_LABELS[c.mode] if c.mode == 'per_lesion' else ''}); {t3.outcome}; "
                f"n = {t3.n_included}{' lesions' if c.mode == 'per_lesion' else ''}"]
    rows = [(r.factor, r.level_a, f"{r.effective_a}/{r.ineffective_a}", r.level_b,
             f"{r.effective_b}/{r.ineffective_b}", str(r.n_unknown), r.text) for r in t3.rows]
    out += _lines_table(("Factor", "Level A", "eff/ineff", "Level B", "eff/ineff", "unknown", "test"), rows)
    for r in t3.rows:
        if r.cut:
            out.append(f"  {r.factor} cut: {r.cut}")
    for title, names in (("excluded, NE at 12 months", t3.excluded_ne),
                         ("excluded, no 12-month result", t3.excluded_not_assessed),
                         ("excluded, 12-month visit after new therapy", t3.excluded_after_new_therapy)):
        if names:
            out.append(_listing(title, names))
    out += [f"  Note: {n}" for n in t3.notes]

    out += ["", f"Table 4. Pre- vs post-implant dosimetry — {t4.n_pairs} of {t4.n_procedures} implants with both "
                f"plans; post D90 below the prescription: {t4.post_d90_below_rx}"]
    rows = [(r.label, str(r.n), r.pre_text, r.post_text, r.comparison.text if r.comparison else "—",
             r.comparison.test if r.comparison else "") for r in t4.rows]
    out += _lines_table(("Parameter", "n", "pre", "post", "paired test", "test"), rows)
    out += [f"  Note: {n}" for n in t4.notes]

    out += ["", "Flow: registered → eligible → implanted → evaluable per time point (patients)"]
    for step in flow(c).steps:
        out.append(f"  {step.label}: {step.n}" + (f" (of {step.of})" if step.of else ""))
        for p in step.patients:
            out.append(f"    {'flagged' if p.counted else 'missing'}: {p.study_id} — {p.reason_label}: {p.detail}")
    return "\n".join(out) + "\n"

