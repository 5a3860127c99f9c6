"""Electronic signature of a sign-off: the signer re-types his password under a statement of what it means.

An open session on a ward PC cannot sign: the sign-off views (registry/views.py, dosimetry/views.py) accept the
POST only when ``SignatureForm`` confirms the password of the user logged in. The check goes through
``django.contrib.auth.authenticate`` with the request, so a wrong password counts as a failed login for
django-axes and repeated wrong passwords lock the account like the login page does. The statement is built here,
on the server, at the moment of signing, and stored with the sign-off (who, when, what it means).
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import authenticate

KINDS = ("eligibility", "stage", "dosimetry")


def signer_name(user) -> str:
    return user.get_full_name().strip() or user.get_username()


def statement(kind: str, user, subject: object) -> str:
    """The statement of meaning of a sign-off of ``kind`` by ``user``; ``subject`` is the record signed."""
    name = signer_name(user)
    if kind == "eligibility":
        patient = subject.patient
        return (f"I, {name}, approve the eligibility assessment of {patient.study_id} dated "
                f"{subject.assessment_date} ({subject.get_status_display().lower()}) as reviewed and correct.")
    if kind == "stage":
        tnm = " ".join(v for v in (subject.t_category, subject.n_category, subject.m_category) if v)
        return (f"I, {name}, approve the stage of {subject.study_id} (stage {subject.stage}"
                f"{', ' + tnm if tnm else ''}) as reviewed and correct.")
    if kind == "dosimetry":
        return (f"I, {name}, approve the dosimetry of the implant procedure of {subject.patient.study_id} on "
                f"{subject.date} (the plans of record) as reviewed and correct.")
    raise ValueError(f"Sign-off kind {kind!r} is not one of {', '.join(KINDS)}.")


class SignatureForm(forms.Form):
    password = forms.CharField(label="Your password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, data=None, *, request, meaning: str, **kwargs):
        super().__init__(data, **kwargs)
        self.request = request
        self.meaning = meaning

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        signer = authenticate(self.request, username=user.get_username(), password=password)
        if signer is None or signer.pk != user.pk:
            if getattr(self.request, "axes_locked_out", False):
                raise forms.ValidationError(
                    f"Not signed: too many wrong passwords for {user.get_username()}; the account is locked. "
                    "Ask a data manager to unlock it.")
            raise forms.ValidationError(
                f"Not signed: the password is not the password of {user.get_username()}. A sign-off needs the "
                "signer's own login password.")
        return ""  # never kept
