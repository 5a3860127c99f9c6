"""common.pages.attach_errors: service errors land on the form field they name, by structure, not by text."""

import pytest
from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import RequestFactory

from common.errors import InputError
from common.pages import attach_errors, require
from registry.eligibility import EligibilityInputError


class _Form(forms.Form):
    kps = forms.IntegerField(required=False)
    platelets_value = forms.DecimalField(required=False)


def _bound():
    form = _Form({"kps": "70", "platelets_value": "88"})
    assert form.is_valid()
    return form


def test_an_input_error_goes_to_its_field():
    form = _bound()
    attach_errors(EligibilityInputError("kps", 75, "a multiple of 10 from 0 to 100"), form)
    assert form.errors == {"kps": ["kps 75 is not allowed; allowed: a multiple of 10 from 0 to 100"]}
    assert "kps" not in form.cleaned_data


def test_an_input_error_for_a_field_the_form_lacks_or_without_a_field_is_form_wide():
    form = _bound()
    attach_errors(InputError("tgab_cutoff = -1: must be > 0", field="tgab_cutoff"), form)
    attach_errors(InputError("the export lacks an RTDOSE"), form)
    assert form.non_field_errors() == ["tgab_cutoff = -1: must be > 0", "the export lacks an RTDOSE"]
    assert not form.has_error("kps")


def test_a_renamed_field_reaches_the_form_name():
    form = _bound()
    attach_errors(InputError("platelets 88 ×10⁹/L — needs > 100", field="platelets_e9_per_l"), form,
                  fields={"platelets_e9_per_l": "platelets_value"})
    assert form.errors["platelets_value"] == ["platelets 88 ×10⁹/L — needs > 100"]


def test_a_validation_error_dict_goes_field_by_field_and_unknown_keys_form_wide():
    form = _bound()
    attach_errors(ValidationError({"kps": ["KPS 40 — needs ≥ 70"], "reason": ["Give the reason."],
                                   "__all__": ["Not saved."]}), form)
    assert form.errors["kps"] == ["KPS 40 — needs ≥ 70"]
    assert form.non_field_errors() == ["Give the reason.", "Not saved."]


def test_a_plain_validation_error_is_form_wide():
    form = _bound()
    attach_errors(ValidationError(["First.", "Second."]), form)
    assert form.non_field_errors() == ["First.", "Second."]


def test_require_refuses_a_role_without_the_permission(users):
    request = RequestFactory().get("/")
    request.user = users["reviewer"]
    with pytest.raises(PermissionDenied, match=r"registry\.add_patient"):
        require(request, "registry.add_patient")
    request.user = users["data_manager"]
    require(request, "registry.add_patient")
