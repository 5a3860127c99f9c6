"""The follow-up app's protocol sections parsed into the cores' settings (pure core: no Django).

``recist`` and ``schedule`` map onto one core each (``RecistSettings``, ``ScheduleSettings.from_protocol``) and are
parsed by them directly (``assessment/apps.py``). The two sections below gather values of several cores or of the
cohort analysis, so they get a settings object of their own:

* ``followup``: the remission definition of the cohort tables, the TgAb cut-off a visit form proposes, the Tg
  doubling-time minimum (``DoublingTimeSettings``), the last day of the acute RTOG scale (``ToxicitySettings``)
  and the ATA biochemical-incomplete comparison (``AtaSettings``);
* ``cohort``: whether the time-point tables count only visits inside their protocol window;
* ``dashboard``: above how many items the dashboard's figures are drawn aggregated (``reports.plots``).

Missing keys keep the protocol's default; an unknown key or a bad value raises an :class:`InputError` whose
``field`` is the protocol key (``tg_dt_min_points``, not the core's ``min_points``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from assessment.thyroglobulin import AtaSettings, BirComparison, DoublingTimeSettings
from assessment.toxicity import ToxicitySettings
from common.errors import InputError

__all__ = ["REMISSION_DEFINITIONS", "CohortSettings", "DashboardSettings", "FollowupSettings"]

#: "dcr" = CR+PR+SD (the index study), "orr" = CR+PR (the cohort tables name them).
REMISSION_DEFINITIONS = ("dcr", "orr")

T = TypeVar("T")


def _refuse(key: str, value: object, allowed: str) -> InputError:
    return InputError(f"{key}: got {value!r}; allowed: {allowed}", field=key, value=value, allowed=allowed)


def _known_keys(values: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in values:
        if key not in known:
            raise _refuse(str(key), values[key], f"keys {', '.join(known)}")


def _whole(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(key, value, "a whole number")
    return value


def _core(key: str, value: object, build: Callable[[], T]) -> T:
    """Build a core's settings from one protocol value; the core's refusal is reported under the protocol key."""
    try:
        return build()
    except ValueError as exc:
        allowed = str(getattr(exc, "allowed", "") or "")
        message = f"{key}: got {value!r}; allowed: {allowed}" if allowed else f"{key}: {exc}"
        raise InputError(message, field=key, value=value, allowed=allowed) from exc


@dataclass(frozen=True)
class FollowupSettings:
    """Protocol section ``followup`` (defaults in config/protocol.py)."""

    remission_definition: str = "dcr"
    tgab_default_cutoff_iu_ml: float = 4
    doubling_time: DoublingTimeSettings = field(default_factory=DoublingTimeSettings)
    toxicity: ToxicitySettings = field(default_factory=ToxicitySettings)
    ata: AtaSettings = field(default_factory=AtaSettings)

    KEYS = ("remission_definition", "tgab_default_cutoff_iu_ml", "tg_dt_min_points", "rtog_acute_last_day",
            "ata_bir_comparison")

    @classmethod
    def from_protocol(cls, values: Mapping[str, Any]) -> FollowupSettings:
        _known_keys(values, cls.KEYS)
        out: dict[str, Any] = {}
        if "remission_definition" in values:
            value = values["remission_definition"]
            if value not in REMISSION_DEFINITIONS:
                raise _refuse("remission_definition", value, f"one of {', '.join(REMISSION_DEFINITIONS)}")
            out["remission_definition"] = value
        if "tgab_default_cutoff_iu_ml" in values:
            value = values["tgab_default_cutoff_iu_ml"]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise _refuse("tgab_default_cutoff_iu_ml", value, "a number of IU/mL > 0")
            out["tgab_default_cutoff_iu_ml"] = value
        if "tg_dt_min_points" in values:
            value = _whole("tg_dt_min_points", values["tg_dt_min_points"])
            out["doubling_time"] = _core("tg_dt_min_points", value, lambda: DoublingTimeSettings(min_points=value))
        if "rtog_acute_last_day" in values:
            value = _whole("rtog_acute_last_day", values["rtog_acute_last_day"])
            out["toxicity"] = _core("rtog_acute_last_day", value, lambda: ToxicitySettings(acute_last_day=value))
        if "ata_bir_comparison" in values:
            value = values["ata_bir_comparison"]
            if value not in {c.value for c in BirComparison}:
                raise _refuse("ata_bir_comparison", value, " or ".join(repr(c.value) for c in BirComparison))
            out["ata"] = _core("ata_bir_comparison", value, lambda: AtaSettings(bir_comparison=BirComparison(value)))
        return cls(**out)


@dataclass(frozen=True)
class CohortSettings:
    """Protocol section ``cohort``: ``in_window_only`` (default True) counts in the time-point tables only the
    visits inside their window; the others are listed beside Table 1."""

    in_window_only: bool = True

    KEYS = ("in_window_only",)

    @classmethod
    def from_protocol(cls, values: Mapping[str, Any]) -> CohortSettings:
        _known_keys(values, cls.KEYS)
        value = values.get("in_window_only", True)
        if not isinstance(value, bool):
            raise _refuse("in_window_only", value, "true or false")
        return cls(in_window_only=value)


@dataclass(frozen=True)
class DashboardSettings:
    """Protocol section ``dashboard``: ``aggregate_above_items`` (default 300, as
    ``reports.plots.PlotSettings.aggregate_above``), the number of bars / lines / rows / points (volumes of one box)
    above which a dashboard figure is drawn aggregated, its caption saying how; up to it, one artist per item."""

    aggregate_above_items: int = 300

    KEYS = ("aggregate_above_items",)

    @classmethod
    def from_protocol(cls, values: Mapping[str, Any]) -> DashboardSettings:
        _known_keys(values, cls.KEYS)
        value = values.get("aggregate_above_items", 300)
        if _whole("aggregate_above_items", value) < 1:
            raise _refuse("aggregate_above_items", value, "a whole number ≥ 1 (items)")
        return cls(aggregate_above_items=value)
