"""The cohort tables are a pure core, so they name the few stored choice values they compare against; these must
be the models' values (``assessment.choices``, ``registry.choices``)."""

from assessment import choices as ac
from assessment import cohort_data as cd
from registry import choices as rc


def test_the_follow_up_states_are_the_models_values():
    assert (cd.IN_FOLLOW_UP, cd.COMPLETED, cd.LOST, cd.WITHDRAWN, cd.DIED) == (
        ac.FollowUpState.IN_FOLLOW_UP, ac.FollowUpState.COMPLETED, ac.FollowUpState.LOST,
        ac.FollowUpState.WITHDRAWN, ac.FollowUpState.DIED)
    assert set(cd.LEFT_FOLLOW_UP) == set(ac.LEFT_FOLLOW_UP)
    assert set(ac.FollowUpState.values) == {cd.IN_FOLLOW_UP, *cd.LEFT_FOLLOW_UP}


def test_the_patient_facts_are_the_models_values():
    assert cd.BASELINE == ac.Timepoint.BASELINE
    assert cd.TSH_STIMULATED == ac.TshState.STIMULATED
    assert cd.SEX_MALE == rc.Sex.MALE
    assert tuple(rc.Histology.values) == cd.HISTOLOGIES
    assert cd.HISTOLOGY_PAPILLARY == rc.Histology.PAPILLARY
    assert cd.ELIGIBLE == rc.EligibilityStatus.ELIGIBLE
    assert dict(rc.EligibilityStatus.choices) == cd.ELIGIBILITY_LABELS


def test_the_timepoints_are_the_models_follow_up_timepoints():
    assert [tp for tp, _ in cd.TIMEPOINTS] == [ac.Timepoint.M2, ac.Timepoint.M6, ac.Timepoint.M12]
    assert dict(cd.TIMEPOINTS) == {tp: label for tp, label in ac.Timepoint.choices if tp in dict(cd.TIMEPOINTS)}
