"""The rule-set stamps the services store are the cores' own constants, never a second spelling."""

import datetime as dt
from decimal import Decimal

from assessment import recist, services, thyroglobulin, toxicity
from assessment.models import FollowUpResult, VisitResult
from registry import eligibility, rair, staging
from registry.models import EligibilityAssessment, RairClassification

D = Decimal


def _visit(patient, user, when, timepoint, long_short_third):
    [lesion] = patient.lesions.all()
    long_mm, short_mm, third_mm = long_short_third
    data = services.VisitInput(
        visit={"visit_date": when, "timepoint": timepoint, "modality": "ct"},
        measurements={lesion.pk: {"qualifier": "measured", "long_mm": D(long_mm), "short_mm": D(short_mm),
                                  "third_mm": D(third_mm)}})
    return services.visit_save(user=user, patient=patient, data=data)


def test_follow_up_stamps_are_the_cores_constants(procedure, users):
    patient = procedure.patient
    _visit(patient, users["nurse"], dt.date(2018, 1, 20), "baseline", ("28", "20", "24"))
    m2 = _visit(patient, users["nurse"], dt.date(2018, 4, 5), "m2", ("20", "13", "15"))
    result = VisitResult.objects.get(visit=m2)
    assert (result.rule_set, result.ata_rule_set) == (recist.RULE_SET, thyroglobulin.ATA_RULE_SET)
    fu = FollowUpResult.objects.get(patient=patient)
    assert fu.rule_set == recist.RULE_SET
    assert fu.toxicity_rule_sets == toxicity.RULE_SETS == f"{toxicity.RTOG_RULE_SET}, {toxicity.CTCAE_RULE_SET}"


def test_registry_stamps_are_the_cores_constants(eligible_patient, make_patient):
    assert eligible_patient.stage_rule_set == staging.RULE_SET
    assert RairClassification.objects.get(patient=eligible_patient).rule_set == rair.RULE_SET
    assert EligibilityAssessment.objects.get(patient=eligible_patient).rule_set == eligibility.RULE_SET
    unstaged = make_patient(record_number="MRN-2", n_category="")  # "not staged" is stamped by the service
    assert (unstaged.stage, unstaged.stage_rule_set) == ("", staging.RULE_SET)
    assert unstaged.stage_reason == "not staged: N not recorded"
