"""The JSON contract of ``manage.py recist_evaluate`` (a pure core, no Django): a JSON-like payload in, checked
field by field, the RECIST rules of :mod:`assessment.recist` applied, a JSON-ready dict out.

Rules kept here:

* Parsing and output only; every clinical decision is :func:`assessment.recist.evaluate`'s. A change of the rules
  bumps ``recist.RULES_VERSION``; a change of this contract (keys, shapes) is a change of the command's interface.
* Bad input raises :class:`ContractError` with one line naming the field, the value (as JSON text) and what is
  allowed; an unknown key is an error, never ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from datetime import date
from typing import Any

from assessment.recist import (
    _EXACT_SETTINGS,
    RULES_VERSION,
    Assessment,
    BestResponse,
    Lesion,
    Measurement,
    MeasurementKind,
    Mode,
    NewLesions,
    NonTargetStatus,
    RecistError,
    RecistResult,
    RecistSettings,
    Response,
    Role,
    evaluate,
    number_out,
    percent_out,
)

__all__ = ["ContractError", "evaluate_contract", "to_contract_output"]


class ContractError(RecistError):
    """Invalid payload given to :func:`evaluate_contract` (one line naming the problem)."""


_TOP_KEYS = {"implant_date", "settings", "lesions", "assessments", "new_therapy_date"}
_LESION_KEYS = {"id", "organ", "nodal", "role", "previously_irradiated", "progressed_after_irradiation"}
_ASSESSMENT_KEYS = {"date", "target", "non_target", "new_lesions", "tg_normal"}
_TARGET_WORDS = {
    "too_small": MeasurementKind.TOO_SMALL,
    "disappeared": MeasurementKind.DISAPPEARED,
    "not_evaluable_artefact": MeasurementKind.NOT_EVALUABLE_ARTEFACT,
}
_TARGET_ALLOWED = 'a size ≥ 0 mm, "too_small", "disappeared", "not_evaluable_artefact" or null'


def _j(value: Any) -> str:
    """A value as JSON text for error messages (true/null rather than True/None)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _c_date(value: Any, name: str) -> date:
    if not isinstance(value, str):
        raise ContractError(f'{name}: {_j(value)} is not a date (allowed: "YYYY-MM-DD")')
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ContractError(f'{name}: {_j(value)} is not a date (allowed: "YYYY-MM-DD")') from None


def _c_obj(value: Any, name: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ContractError(f"{name}: expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise ContractError(f"{name}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(keys))})")
    return value


def _c_settings(raw: Any) -> RecistSettings:
    names = {f.name for f in fields(RecistSettings)}
    obj = _c_obj({} if raw is None else raw, "settings", names)
    for key, value in obj.items():
        if key in _EXACT_SETTINGS and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ContractError(f"settings.{key}: {_j(value)} is not a number (allowed: a number ≥ 0)")
    try:
        return RecistSettings(**obj)
    except RecistError as exc:
        raise ContractError(str(exc)) from None


def _c_lesions(raw: Any) -> list[Lesion]:
    if not isinstance(raw, list) or not raw:
        raise ContractError(f"lesions: expected a non-empty list, got {_j(raw)}"[:200])
    out: list[Lesion] = []
    for k, item in enumerate(raw):
        name = f"lesions[{k}]"
        obj = _c_obj(item, name, _LESION_KEYS)
        for key in ("id", "organ", "nodal", "role"):
            if key not in obj:
                raise ContractError(f"{name}.{key}: missing (required: id, organ, nodal, role)")
        if not isinstance(obj["id"], str) or not obj["id"].strip():
            raise ContractError(f"{name}.id: {_j(obj['id'])} is not allowed (allowed: a non-empty string)")
        if not isinstance(obj["organ"], str) or not obj["organ"].strip():
            raise ContractError(
                f"{name}.organ: {_j(obj['organ'])} is not allowed (allowed: a non-empty string)"
            )
        for key in ("nodal", "previously_irradiated", "progressed_after_irradiation"):
            if key in obj and not isinstance(obj[key], bool):
                raise ContractError(f"{name}.{key}: {_j(obj[key])} is not allowed (allowed: true or false)")
        if obj["role"] not in ("target", "non-target"):
            raise ContractError(
                f'{name}.role: {_j(obj["role"])} is not allowed (allowed: "target", "non-target")'
            )
        out.append(
            Lesion(
                obj["id"],
                obj["organ"],
                obj["nodal"],
                Role(obj["role"]),
                obj.get("previously_irradiated", False),
                obj.get("progressed_after_irradiation", False),
            )
        )
    return out


def _c_target_value(value: Any, name: str) -> Measurement:
    if value is None:
        return Measurement.not_assessed()
    if isinstance(value, str):
        if value not in _TARGET_WORDS:
            raise ContractError(f"{name}: {_j(value)} is not allowed (allowed: {_TARGET_ALLOWED})")
        return Measurement(_TARGET_WORDS[value])
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(f"{name}: {_j(value)} is not allowed (allowed: {_TARGET_ALLOWED})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ContractError(f"{name}: {_j(value)} is not finite (allowed: {_TARGET_ALLOWED})")
    if value < 0:
        raise ContractError(f"{name}: {_j(value)} is negative (allowed: {_TARGET_ALLOWED})")
    return Measurement.mm(value)


def _c_assessments(raw: Any) -> list[Assessment]:
    if not isinstance(raw, list) or not raw:
        raise ContractError("assessments: expected a non-empty list (baseline first)")
    out: list[Assessment] = []
    for k, item in enumerate(raw):
        name = f"assessments[{k}]"
        obj = _c_obj(item, name, _ASSESSMENT_KEYS)
        if "date" not in obj:
            raise ContractError(f'{name}.date: missing (required: "YYYY-MM-DD")')
        when = _c_date(obj["date"], f"{name}.date")
        target_raw = obj.get("target", {})
        if not isinstance(target_raw, dict):
            raise ContractError(
                f"{name}.target: expected an object of lesion id → size, got {type(target_raw).__name__}"
            )
        target = {lid: _c_target_value(v, f"{name}.target.{lid}") for lid, v in target_raw.items()}
        nt_raw = obj.get("non_target", {})
        if not isinstance(nt_raw, dict):
            raise ContractError(
                f"{name}.non_target: expected an object of lesion id → status, got {type(nt_raw).__name__}"
            )
        non_target: dict[str, NonTargetStatus] = {}
        for lid, v in nt_raw.items():
            if v not in {m.value for m in NonTargetStatus}:
                raise ContractError(
                    f"{name}.non_target.{lid}: {_j(v)} is not allowed "
                    '(allowed: "absent", "present", "progression", "not_evaluated")'
                )
            non_target[lid] = NonTargetStatus(v)
        if "new_lesions" in obj:
            nl = obj["new_lesions"]
        elif k == 0:
            nl = False
        else:
            raise ContractError(
                f'{name}.new_lesions: missing (required at follow-up: true, false or "equivocal")'
            )
        if nl is True:
            new = NewLesions.YES
        elif nl is False:
            new = NewLesions.NO
        elif nl == "equivocal":
            new = NewLesions.EQUIVOCAL
        else:
            raise ContractError(
                f'{name}.new_lesions: {_j(nl)} is not allowed (allowed: true, false or "equivocal")'
            )
        tg = obj.get("tg_normal")
        if tg is not None and not isinstance(tg, bool):
            raise ContractError(f"{name}.tg_normal: {_j(tg)} is not allowed (allowed: true, false or null)")
        out.append(Assessment(when, target, non_target, new, tg))
    return out


def _bor_out(u: BestResponse, c: BestResponse) -> tuple[dict[str, str], dict[str, str]]:
    return {"unconfirmed": u.response.value, "confirmed": c.response.value}, {
        "unconfirmed": u.reason,
        "confirmed": c.reason,
    }


def _cat(r: Response | None) -> str | None:
    return None if r is None else r.value


def to_contract_output(result: RecistResult) -> dict[str, Any]:
    """Serialise a :class:`RecistResult` to the JSON contract of :func:`evaluate_contract`."""
    tps = []
    for tp in result.timepoints:
        tps.append(
            {
                "date": tp.assessment_date.isoformat(),
                "day": tp.day,
                "sum_mm": None if tp.sum_mm is None else number_out(tp.sum_mm),
                "change_from_baseline_pct": percent_out(tp.change_from_baseline_pct),
                "nadir_mm": None if tp.nadir_mm is None else number_out(tp.nadir_mm),
                "change_from_nadir_pct": percent_out(tp.change_from_nadir_pct),
                "target": _cat(tp.target),
                "non_target": _cat(tp.non_target),
                "new_lesions": None if tp.new_lesions is None else tp.new_lesions.value,
                "overall": _cat(tp.overall),
                "reason": tp.reason,
                "flags": list(tp.flags),
            }
        )
    bor, bor_reasons = _bor_out(result.bor_unconfirmed, result.bor_confirmed)
    out: dict[str, Any] = {
        "rule_set": result.rule_set,
        "rules_version": RULES_VERSION,
        "timepoints": tps,
        "best_overall_response": bor,
        "best_overall_response_reasons": bor_reasons,
        "measurable_disease": result.measurable_disease,
        "flags": list(result.flags)
        + [f for f in result.bor_unconfirmed.flags + result.bor_confirmed.flags if f not in result.flags],
        "settings": result.settings.as_dict(),
    }
    out["flags"] = list(dict.fromkeys(out["flags"]))
    if result.settings.mode is Mode.PER_LESION:
        blocks = []
        for lr in result.per_lesion:
            lbor, lreasons = _bor_out(lr.bor_unconfirmed, lr.bor_confirmed)
            blocks.append(
                {
                    "lesion_id": lr.lesion_id,
                    "timepoints": [
                        {
                            "date": t.assessment_date.isoformat(),
                            "day": t.day,
                            "size_mm": None if t.size_mm is None else number_out(t.size_mm),
                            "change_from_baseline_pct": percent_out(t.change_from_baseline_pct),
                            "nadir_mm": None if t.nadir_mm is None else number_out(t.nadir_mm),
                            "change_from_nadir_pct": percent_out(t.change_from_nadir_pct),
                            "response": _cat(t.response),
                            "reason": t.reason,
                            "flags": list(t.flags),
                        }
                        for t in lr.timepoints
                    ],
                    "best_overall_response": lbor,
                    "best_overall_response_reasons": lreasons,
                }
            )
        out["per_lesion"] = blocks
    return out


def evaluate_contract(payload: dict[str, Any]) -> dict[str, Any]:
    """The scripted RECIST contract (used by ``manage.py recist_evaluate``): JSON-like dict in, dict out.

    Input::

        {"implant_date": "YYYY-MM-DD",
         "settings": {...any RecistSettings field, all optional...},
         "lesions": [{"id", "organ", "nodal": bool, "role": "target"|"non-target",
                      optional "previously_irradiated", "progressed_after_irradiation": bool}],
         "assessments": [{"date", "target": {id: mm | "too_small" | "disappeared" | "not_evaluable_artefact"
                          | null}, "non_target": {id: "absent"|"present"|"progression"|"not_evaluated"},
                          "new_lesions": true|false|"equivocal", optional "tg_normal": bool|null}],
         optional "new_therapy_date": "YYYY-MM-DD" | null}

    The first assessment is the baseline (``new_lesions`` optional there, required at follow-ups). A missing
    target key / null = not assessed; a missing non-target key = not evaluated. Numbers are mm (nodes: SA);
    JSON floats are read exactly through their decimal text (12.3 → 123/10).

    Output::

        {"rule_set": "RECIST1.1" (per_lesion mode: "RECIST1.1-MODIFIED-PER-LESION"),
         "rules_version": "2" (RULES_VERSION: bumped when outputs change for the same input),
         "timepoints": [{"date", "day", "sum_mm", "change_from_baseline_pct", "nadir_mm",
                         "change_from_nadir_pct", "target", "non_target", "new_lesions", "overall",
                         "reason", "flags"}, ...],           # one per assessment, baseline first
         "best_overall_response": {"unconfirmed": C, "confirmed": C},
         "best_overall_response_reasons": {"unconfirmed": str, "confirmed": str},
         "measurable_disease": bool, "flags": [str], "settings": {effective settings},
         "per_lesion": [...]}                                # only in per_lesion mode

    Decisions: ``day`` = date − implant_date in days (baseline ≤ 0). Percentages are rounded half away from zero
    to 1 decimal (thresholds are decided on exact values before rounding); ``change_from_nadir_pct`` is null when
    the nadir is 0. ``sum_mm`` is the full sum (int when whole, else float) or null when a target was not
    assessed (the partial sum is in the reason); at baseline ``sum_mm`` is the baseline sum and ``nadir_mm``,
    percentages and all categories are null. ``nadir_mm`` is the nadir used at that visit. ``new_lesions`` shows
    "no", "equivocal" or "yes" (null at baseline). Categories: "CR", "PR", "SD", "PD", "NE", "NON_CR_NON_PD";
    "NA" for target / non-target when the patient has no such lesions.

    ``per_lesion`` mode: the strict keys are kept (patient-level sum over *all* targets, no selection limits,
    rule_set marks the modification) and ``per_lesion`` adds, per target in input order,
    ``{"lesion_id", "timepoints": [{"date", "day", "size_mm", "change_from_baseline_pct", "nadir_mm",
    "change_from_nadir_pct", "response", "reason", "flags"}], "best_overall_response",
    "best_overall_response_reasons"}``; a lesion's response uses only its own diameter (non-target lesions and
    new lesions do not enter it).

    Raises :class:`ContractError` (one line) on invalid input; an assessment the rules cannot classify is NE
    with its reason.
    """
    obj = _c_obj(payload, "payload", _TOP_KEYS)
    if "implant_date" not in obj:
        raise ContractError('implant_date: missing (required: "YYYY-MM-DD")')
    implant = _c_date(obj["implant_date"], "implant_date")
    settings = _c_settings(obj.get("settings"))
    lesions = _c_lesions(obj.get("lesions"))
    assessments = _c_assessments(obj.get("assessments"))
    therapy_raw = obj.get("new_therapy_date")
    therapy = None if therapy_raw is None else _c_date(therapy_raw, "new_therapy_date")
    try:
        result = evaluate(lesions, assessments, implant, settings, therapy)
    except ContractError:
        raise
    except RecistError as exc:
        raise ContractError(str(exc)) from None
    return to_contract_output(result)
