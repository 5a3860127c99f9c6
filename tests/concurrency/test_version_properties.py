"""Properties of the version tokens (registry/versioning.py)."""

from __future__ import annotations

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import services, versioning

_FIXTURES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Rollback(Exception):
    pass


@_FIXTURES
@given(edits=st.lists(st.sampled_from(["", "T1a", "T2", "T3a"]), max_size=5))
def test_the_refusal_lists_exactly_the_visible_changes_made_since_the_token(eligible_patient, users, edits):
    """Any sequence of saves by someone else: the form is stale iff one of them changed a value, and the list
    shows each change in order, before → after; re-saves of the same value are not listed."""
    try:
        with transaction.atomic():
            patient = type(eligible_patient).objects.get(pk=eligible_patient.pk)
            scope = versioning.scope_for(patient, patient.pk)
            token = versioning.token_for(scope)
            expected, current = [], patient.t_category
            for value in edits:
                services.patient_update(user=users["physician"], patient=patient, data={"t_category": value})
                if value != current:
                    expected.append(("T", current or "—", value or "—"))
                current = value
            stale = versioning.changes_since(token, scope)
            if not expected:
                assert stale is None
            else:
                assert [(c.field, c.before, c.after) for e in stale.entries for c in e.changes] == expected
                assert {e.who for e in stale.entries} == {"physician_a"}
                assert versioning.changes_since(stale.token, scope) is None  # the fresh token is current
            raise _Rollback
    except _Rollback:
        pass


@_FIXTURES
@given(position=st.integers(min_value=0), replacement=st.characters(codec="ascii", categories=["L", "N"]))
def test_any_altered_token_is_refused(eligible_patient, position, replacement):
    scope = versioning.scope_for(eligible_patient, eligible_patient.pk)
    token = versioning.token_for(scope)
    i = position % len(token)
    forged = token[:i] + replacement + token[i + 1:]
    stale = versioning.changes_since(forged, scope)
    if forged == token:
        assert stale is None
    else:
        assert stale is not None and stale.entries == []
        assert stale.message.startswith("Not saved: this form carries no valid version token")
