"""The input-error base every core's errors derive from keeps field, value and allowed apart from the message."""

import pytest

from common.errors import InputError


def test_input_error_carries_field_value_allowed_and_stays_a_value_error():
    exc = InputError("platelets_e9_per_l = -3: must be ≥ 0", field="platelets_e9_per_l", value=-3, allowed="≥ 0")
    assert isinstance(exc, ValueError)
    assert (str(exc), exc.field, exc.value, exc.allowed) == (
        "platelets_e9_per_l = -3: must be ≥ 0", "platelets_e9_per_l", -3, "≥ 0")
    with pytest.raises(ValueError, match="must be ≥ 0"):
        raise exc
