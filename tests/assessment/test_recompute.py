"""``manage.py recompute``: after a protocol change the stored results are recomputed from the stored facts,
patient by patient (a task each, run in this process without a broker), with progress and one line outcome."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from assessment import recist
from assessment.models import FollowUpResult, VisitResult
from tests.assessment.test_cohort import _course, build  # noqa: F401 - the cohort builder fixture

pytestmark = pytest.mark.django_db


def _run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("recompute", *args, stdout=out)
    return out.getvalue().splitlines()


def test_a_changed_threshold_reaches_the_stored_category_after_recompute(build, settings):  # noqa: F811
    p = build(implant=dt.date(2018, 2, 10), sizes=_course(20, 15, 15, 15))  # −25 %: SD at the default PR 30 %
    other = build(implant=dt.date(2018, 3, 10), sizes=_course(20, 19, 19, 19))  # −5 %: SD whatever PR is
    m2 = VisitResult.objects.get(visit__patient=p, visit__timepoint="m2")
    assert (m2.overall, FollowUpResult.objects.get(patient=p).bor_unconfirmed) == ("SD", "SD")

    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL,
                                   "recist": {**settings.SEEDTRACK_PROTOCOL["recist"], "pr_pct": 20}}
    assert VisitResult.objects.get(pk=m2.pk).overall == "SD"  # stored results wait for the recomputation
    lines = _run("--rule-set", recist.RULE_SET)
    assert lines[:2] == [f"1 of 2 patients: {p.study_id} (changed)", f"2 of 2 patients: {other.study_id}"]
    assert lines[2] == ("Recomputed 2 patients (followup: RECIST1.1, MDA-2004, ATA2015, RTOG-EORTC-1995, CTCAE5): "
                        "1 with a changed result.")
    now = VisitResult.objects.get(visit__patient=p, visit__timepoint="m2")
    assert now.overall == "PR" and now.rule_set == recist.RULE_SET and now.computed_at > m2.computed_at
    result = FollowUpResult.objects.get(patient=p)
    assert result.bor_unconfirmed == "PR" and result.rule_set == recist.RULE_SET
    assert VisitResult.objects.get(visit__patient=other, visit__timepoint="m2").overall == "SD"

    # nothing left to change: a second run (a task delivered twice) finds every result as it stored it
    assert _run("--patient", p.study_id) == [
        f"1 of 1 patients: {p.study_id}",
        "Recomputed 1 patient (registry: AJCC8, ATA2015, SEEDTRACK-ELIG-1; followup: RECIST1.1, MDA-2004, "
        "ATA2015, RTOG-EORTC-1995, CTCAE5): 0 with a changed result."]


def test_unknown_patient_or_rule_set_is_refused(build):  # noqa: F811
    with pytest.raises(CommandError, match="No patient with study id 'ZZZ-0009'"):
        _run("--patient", "ZZZ-0009")
    with pytest.raises(CommandError, match="invalid choice: 'RECIST9'"):
        _run("--rule-set", "RECIST9")
