"""Protocol thresholds a study may change, with their documented defaults.

Every number here comes from ``shared/reference/clinical-rules.md`` (section named beside it). A site can override
any of them without touching code: put a JSON object with the same keys in a file and point
``SEEDTRACK_PROTOCOL_FILE`` at it; keys are merged one level deep (``{"eligibility": {"platelets_min_e9_per_l": 50}}``
changes only that threshold). Unknown keys are refused here, when the settings load.

The values are checked by the cores they configure: each app registers the parser of its sections
(``common/protocol.py``, in ``AppConfig.ready()``), and every section is parsed into its core's settings object
when Django starts (every ``manage.py`` command, the WSGI application). A bad value stops the start with one line
naming the key, e.g. ``protocol schedule.m2_window_days = 'x': got 'x'; allowed: an integer >= 0 (days)``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

DEFAULT_PROTOCOL: dict[str, dict[str, Any]] = {
    # §8.2 eligibility for CT-guided 125I seed implantation (operators in registry/eligibility.py).
    "eligibility": {
        "wbc_min_e9_per_l": 3.5,  # ≥
        "hemoglobin_min_g_per_l": 90,  # ≥ (9.0 g/dL)
        "platelets_min_e9_per_l": 100,  # strict >
        "pta_min_pct": 40,  # strict >
        "alt_max_x_uln": 3,  # ≤
        "ast_max_x_uln": 3,  # ≤
        "kps_min": 70,  # ≥
        "labs_window_days": 14,  # [DESIGN DECISION] labs older than this before the implant count as missing
        "cumulative_iodine_min_gbq": 22.2,  # strict > (600 mCi), the index study's requirement
        "months_since_last_iodine_min": 6,  # ≥ completed calendar months
        "require_tgab_negative": True,
    },
    # dosimetry.md and the index study: the protocol's prescription range warns, it does not refuse.
    "dosimetry": {
        "prescription_min_gy": 110,
        "prescription_max_gy": 140,
        "tg43_flag_pct": 5,  # TG-43 recomputation vs the planning system: D90 / V100 differences above this are flagged
        "dvh_supersampling": 4,  # in-plane sub-voxel supersampling when rasterising RTSTRUCT contours
        # first and last contour planes of a structure count "half" a slab (planning systems, e.g. Eclipse) or
        # "whole" (dicompyler-core get_dvh); dosimetry/dvh.py EndCaps
        "dvh_end_caps": "half",
    },
    # §1 RECIST 1.1 (assessment/recist.py RecistSettings; percentages and mm, boundaries inclusive).
    "recist": {
        "mode": "strict",  # "strict" (patient-level RECIST 1.1) or "per_lesion" (labelled "modified RECIST")
        "sd_min_days": 42,  # [DESIGN DECISION] SD counts for the best response only from this study day
        "confirmation_min_days": 28,  # CR/PR confirmed by a CR/PR at least this many days later
        "pr_pct": 30,  # PR: sum ≥ 30 % below baseline
        "pd_pct": 20,  # PD: sum ≥ 20 % above nadir ...
        "pd_abs_mm": 5,  # ... and ≥ 5 mm above it
        "too_small_mm": 5,  # "too small to measure" without a number
        "require_tg_normalisation": False,  # [DESIGN DECISION] Tg is judged with ATA rules, not in RECIST CR
        # §1.7/§1.9/§11.13 disease present again after an *unconfirmed* CR, for visit categories and both BORs:
        # "relabel_pr" (the earlier CR visits become PR) or "cr_real" (that visit is PD); after a confirmed CR → PD
        "cr_then_pr": "relabel_pr",
    },
    # Visit schedule per implant (assessment/schedule.py): windows around 2, 6 and 12 months.
    "schedule": {
        "baseline_max_days_before": 28,
        "m2_window_days": 14,
        "m6_window_days": 30,
        "m12_window_days": 30,
        "missed_after_days": 30,  # [DESIGN DECISION] overdue this many days after the window closes, then missed
    },
    # Labs, toxicity and cohort rates (§2, §4, §6, §1.10).
    "followup": {
        "remission_definition": "dcr",  # "dcr" = CR+PR+SD (the index study) or "orr" = CR+PR
        # [DESIGN DECISION] cut-off prefilled when the patient has no earlier TgAb result (functional sensitivity,
        # §6.3); otherwise the visit form prefills the cut-off of the previous result with the same assay
        "tgab_default_cutoff_iu_ml": 4,
        "tg_dt_min_points": 4,  # Tg doubling time needs this many detectable values (hard minimum 3)
        "rtog_acute_last_day": 90,  # RTOG acute skin scale up to this day since implant, late scale after
        "ata_bir_comparison": ">=",  # ATA biochemical incomplete: Tg ≥ 1 / ≥ 10 (">=") or > (">")
    },
    # Cohort analysis (assessment/cohort.py; §1.10 time-point rates, windows as in "schedule" above).
    "cohort": {
        # [DESIGN DECISION] rates, volumes and Tg per time point count only visits inside their protocol window;
        # visits outside it are listed beside Table 1 (False: every visit with the time point's label counts).
        "in_window_only": True,
    },
    # The physicians' dashboard figures (assessment/dashboard_figures.py DashboardSettings, reports/plots.py).
    "dashboard": {
        # [DESIGN DECISION] above this many bars / lines / rows / points (or volumes in one box) the waterfall, spider,
        # swimmer, Tg, volume and dose–response figures are drawn aggregated (bins, median and quantile bands, the
        # percentiles of follow-up) and their captions say so; up to it, one artist per item. The CSVs keep every row.
        "aggregate_above_items": 300,
    },
    # Implausible dates (registry/plausibility.py; a data-quality rule, no reference section): field errors.
    "plausibility": {
        "earliest_date": "1900-01-01",  # no clinical date before this (a mistyped year)
        "max_years_before_diagnosis": 1,  # [DESIGN DECISION] labs, visits, ¹³¹I courses, implant: at most this long
        #   before the diagnosis date (a work-up shortly before the pathology date is real; decades before is a typo)
    },
    # §2.2 RAIR-DTC classification.
    "rair": {
        "high_cumulative_activity_gbq": 22.2,  # flag only: cumulative activity alone is not RAIR
        "accept_cumulative_activity_as_rair": False,
    },
}


def load_protocol(path: str | None) -> dict[str, dict[str, Any]]:
    """The defaults with the JSON file at ``path`` merged over them (one level deep); unknown names refused."""
    protocol = copy.deepcopy(DEFAULT_PROTOCOL)
    if not path:
        return protocol
    try:
        overrides = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"SEEDTRACK_PROTOCOL_FILE={path!r} cannot be read as JSON: {exc}") from None
    if not isinstance(overrides, dict):
        raise ImproperlyConfigured(f"SEEDTRACK_PROTOCOL_FILE={path!r} must hold a JSON object of sections")
    for section, values in overrides.items():
        if section not in protocol:
            raise ImproperlyConfigured(
                f"Protocol section {section!r} is unknown; known sections: {', '.join(protocol)}"
            )
        if not isinstance(values, dict):
            raise ImproperlyConfigured(f"Protocol section {section} = {values!r} must be a JSON object of settings")
        for key, value in values.items():
            if key not in protocol[section]:
                raise ImproperlyConfigured(
                    f"Protocol key {section}.{key} is unknown; known keys: {', '.join(protocol[section])}"
                )
            protocol[section][key] = value
    return protocol
