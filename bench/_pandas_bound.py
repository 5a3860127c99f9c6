"""The pandas bound of ``cohort_report``: Table 1 (response per time point, remission rate, ORR, best overall
response) computed with pandas straight from the database, as a floor for what the report's remission table costs.

It reads the five tables the numbers come from (``pd.read_sql`` of implants, visits, visit results, new therapies,
follow-up results; no Django), applies the same rules as ``assessment.cohort`` / ``assessment.cohort_tables`` in
strict mode, vectorised:

* index implant = the patient's first implant (day 0); the cohort = every patient with an implant (no filter);
* a time point's visit = the first visit labelled with it (not the baseline), inside its window when
  ``in_window_only`` (window = implant + N calendar months ± ``windows_days``, days since the implant);
* a visit counts when it has a stored category, not after a new anticancer therapy (a visit day after the first
  therapy started after the implant); Non-CR/Non-PD counts with SD;
* best overall response: the stored unconfirmed / confirmed BOR of patients with a follow-up visit (not the
  baseline, day > 0).

:func:`check` compares every count and rate with the report's ``table1`` (a mismatch raises), so the bound is the
same table, not a cheaper approximation of it.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = ("CR", "PR", "SD", "PD", "NE")


@dataclass(frozen=True)
class Protocol:
    months: Mapping[str, int]  # m2 → 2, …
    windows_days: Mapping[str, int]  # half-widths of the follow-up windows
    in_window_only: bool
    remission: tuple[str, ...]  # the categories of the remission rate (dcr: CR, PR, SD)


def _counts(categories: pd.Series) -> dict[str, int]:
    cats = categories[categories != ""]
    vc = cats.replace("NON_CR_NON_PD", "SD").value_counts()
    out = {c.lower(): int(vc.get(c, 0)) for c in CATEGORIES}
    out["non_cr_non_pd"] = int((cats == "NON_CR_NON_PD").sum())
    return out


def remission_table(db: Path, protocol: Protocol) -> dict:
    """{"rows": {tp: {"n", "counts", "remission": (x, N), "orr": (x, N)}}, "bor": {kind: {...}}} of the cohort."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        implants = pd.read_sql("SELECT patient_id, date FROM dosimetry_implantprocedure", con, parse_dates=["date"])
        visits = pd.read_sql("SELECT id, patient_id, timepoint, visit_date FROM assessment_visit", con,
                             parse_dates=["visit_date"])
        results = pd.read_sql("SELECT visit_id, day, is_baseline, overall FROM assessment_visitresult", con)
        therapies = pd.read_sql("SELECT patient_id, start_date FROM assessment_newtherapy", con,
                                parse_dates=["start_date"])
        followups = pd.read_sql("SELECT patient_id, bor_unconfirmed, bor_confirmed FROM assessment_followupresult",
                                con)
    finally:
        con.close()
    implant = implants.groupby("patient_id")["date"].min()
    v = visits[visits["patient_id"].isin(implant.index)].merge(results, how="left", left_on="id",
                                                               right_on="visit_id")
    v["implant"] = v["patient_id"].map(implant)
    v["visit_day"] = (v["visit_date"] - v["implant"]).dt.days
    has_result = v["day"].notna()
    v["d"] = np.where(has_result, v["day"], v["visit_day"])
    v["category"] = np.where(has_result, v["overall"].fillna(""), "")
    baseline = v["is_baseline"].fillna(0).astype(bool)

    t = therapies.assign(implant=therapies["patient_id"].map(implant)).dropna(subset=["implant"])
    t = t[t["start_date"] > t["implant"]]
    therapy_day = ((t["start_date"] - t["implant"]).dt.days).groupby(t["patient_id"]).min()
    v["therapy_day"] = v["patient_id"].map(therapy_day)

    v = v.sort_values(["patient_id", "visit_date", "id"], kind="stable")
    rows = {}
    for tp, months in protocol.months.items():
        target = v["implant"] + pd.DateOffset(months=months)
        half = protocol.windows_days[tp]
        target_day = (target - v["implant"]).dt.days
        inside = v["visit_day"].between(target_day - half, target_day + half)
        pick = (v["timepoint"] == tp) & ~baseline & (inside if protocol.in_window_only else True)
        first = v[pick].drop_duplicates("patient_id")
        counted = first[(first["category"] != "") & ~(first["d"] > first["therapy_day"])]
        counts = _counts(counted["category"])
        n = sum(counts[c.lower()] for c in CATEGORIES)
        rows[tp] = {"n": n, "counts": counts,
                    "remission": (sum(counts[c.lower()] for c in protocol.remission), n),
                    "orr": (counts["cr"] + counts["pr"], n)}
    followed = v.loc[~baseline & (v["d"] > 0), "patient_id"].unique()
    fu = followups.set_index("patient_id").reindex(followed)
    bor = {}
    for kind in ("unconfirmed", "confirmed"):
        counts = _counts(fu[f"bor_{kind}"].fillna(""))
        n = sum(counts[c.lower()] for c in CATEGORIES)
        bor[kind] = {"n": n, "counts": counts, "remission": (sum(counts[c.lower()] for c in protocol.remission), n),
                     "orr": (counts["cr"] + counts["pr"], n)}
    return {"rows": rows, "bor": bor, "n_patients": len(implant)}


def _wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * p, 100 * (centre - half), 100 * (centre + half)


def check(bound: dict, table1: Mapping, n_patients: int) -> list[str]:
    """Every difference between the pandas table and the report's ``table1`` (empty: identical numbers)."""
    problems = []
    if bound["n_patients"] != n_patients:
        problems.append(f"patients: pandas {bound['n_patients']}, report {n_patients}")
    report_rows = {r["timepoint"]: r for r in table1["rows"]} | {f"bor:{b['kind']}": b for b in table1["bor"]}
    ours = dict(bound["rows"]) | {f"bor:{k}": b for k, b in bound["bor"].items()}
    for key, mine in ours.items():
        theirs = report_rows.get(key)
        if theirs is None:
            problems.append(f"{key}: not in the report")
            continue
        if mine["n"] != theirs["n"] or mine["counts"] != theirs["counts"]:
            problems.append(f"{key}: pandas n {mine['n']} {mine['counts']}, report n {theirs['n']} {theirs['counts']}")
        for rate in ("remission", "orr"):
            x, n = mine[rate]
            prop = theirs[rate]["proportion"]
            if n == 0:
                if prop is not None:
                    problems.append(f"{key} {rate}: pandas N = 0, report {prop}")
                continue
            pct, lo, hi = _wilson(x, n)
            if (prop["n"], prop["N"]) != (x, n) or not all(
                    math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
                    for a, b in ((pct, prop["pct"]), (lo, prop["ci_low_pct"]), (hi, prop["ci_high_pct"]))):
                problems.append(f"{key} {rate}: pandas {x}/{n} ({pct:.4f}%, {lo:.4f}–{hi:.4f}), report "
                                f"{prop['n']}/{prop['N']} ({prop['pct']:.4f}%, {prop['ci_low_pct']:.4f}–"
                                f"{prop['ci_high_pct']:.4f})")
    return problems
