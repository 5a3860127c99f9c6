"""Forms only collect input; the model's clean() rules validate it and a service saves it."""

from __future__ import annotations

from django import forms

from registry import choices as c
from registry.models import EligibilityAssessment, IodineCourse, Lesion, Patient, RairClassification, Site


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class NullBooleanSelect(forms.NullBooleanSelect):
    """Django's own null-boolean select (values "unknown" / "true" / "false", which NullBooleanField reads back and
    which a stored True / False renders as), labelled Not recorded / Yes / No."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "Not recorded"), ("true", "Yes"), ("false", "No")]


NULL_BOOLEAN = NullBooleanSelect  # one widget instance per field (a shared instance would share its attrs)


class ClinicalForm(forms.ModelForm):
    """Dates as date pickers, yes/no/not-recorded for nullable booleans."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.DateField):
                field.widget = DateInput()
            elif isinstance(field, forms.NullBooleanField):
                field.widget = NULL_BOOLEAN()
            if field.required:
                field.widget.attrs.setdefault("required", True)

    def clean(self):
        """Browsers send a textarea's line ends as CRLF: store "\n" so an unchanged re-save changes nothing."""
        data = super().clean()
        for name, value in data.items():
            if isinstance(value, str) and "\r" in value:
                data[name] = value.replace("\r\n", "\n").replace("\r", "\n")
        return data


class PatientForm(ClinicalForm):
    site = forms.ModelChoiceField(queryset=Site.objects.none())

    class Meta:
        model = Patient
        fields = [
            "site", "record_number", "family_name", "given_name", "sex", "birth_date", "diagnosis_date",
            "histology", "histology_other", "surgery_extent", "surgery_date", "central_neck_dissection",
            "lateral_neck_dissection", "ata_initial_risk", "t_category", "n_category", "m_category",
            "tsh_suppression",
        ]

    def __init__(self, *args, sites=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["site"]  # a patient does not move between sites from this form
        else:
            self.fields["site"].queryset = sites
            if sites is not None and sites.count() == 1:
                self.fields["site"].initial = sites.first()

    def _post_clean(self):
        if "site" in self.fields and self.cleaned_data.get("site"):
            self.instance.site = self.cleaned_data["site"]
        super()._post_clean()


class LesionForm(ClinicalForm):
    class Meta:
        model = Lesion
        fields = [
            "region", "cervical_level", "side", "lung_lobe", "site_detail", "nodal", "biopsy_date", "biopsy_result",
            "iodine_uptake", "fdg_avid", "enhancement", "baseline_long_mm", "baseline_short_mm",
            "baseline_third_mm", "baseline_volume_cm3",
        ]


class IodineCourseForm(ClinicalForm):
    class Meta:
        model = IodineCourse
        fields = ["date", "activity_value", "activity_unit", "notes"]

    def __init__(self, *args, lesions=(), uptakes=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lesions = list(lesions)
        for lesion in self.lesions:
            self.fields[f"uptake_{lesion.pk}"] = forms.ChoiceField(
                label=f"Uptake on post-therapy scan: {lesion}",
                choices=c.YesNoUnknown.choices,
                initial=(uptakes or {}).get(lesion.pk, c.YesNoUnknown.UNKNOWN),
            )

    def uptakes(self) -> dict[int, str]:
        return {le.pk: self.cleaned_data[f"uptake_{le.pk}"] for le in self.lesions}

    def fact_data(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if not k.startswith("uptake_")}


class RairForm(ClinicalForm):
    class Meta:
        model = RairClassification
        fields = [
            f"rair{i}_{part}" for i in range(1, 5) for part in ("present", "date", "evidence")
        ] + ["fdg_avid", "progression_within_12_months"]


class EligibilityForm(ClinicalForm):
    class Meta:
        model = EligibilityAssessment
        fields = [
            "assessment_date", "planned_implant_date", "labs_date", "wbc_value", "wbc_unit", "hemoglobin_value",
            "hemoglobin_unit", "platelets_value", "platelets_unit", "pta_pct", "inr", "alt_u_per_l",
            "alt_uln_u_per_l", "ast_u_per_l", "ast_uln_u_per_l", "ecg", "kps", "tgab_iu_per_ml",
            "tgab_cutoff_iu_per_ml", "tgab_assay", "tg_qualifier", "tg_ug_per_l", "biopsy_proven_metastasis",
            "lesion_without_iodine_uptake", "severe_cardiopulmonary_insufficiency", "severe_hepatic_insufficiency",
            "severe_renal_insufficiency", "severe_coagulopathy", "cachexia", "concurrent_radio_or_chemotherapy",
            "immunotherapy",
        ]
        widgets = {
            "wbc_unit": forms.TextInput(attrs={"list": "units-cell", "size": 10}),
            "platelets_unit": forms.TextInput(attrs={"list": "units-cell", "size": 10}),
            "hemoglobin_unit": forms.TextInput(attrs={"list": "units-hb", "size": 10}),
        }


class DeleteForm(forms.Form):
    reason = forms.CharField(
        label="Reason for deletion", min_length=5, max_length=200, widget=forms.TextInput(attrs={"size": 60})
    )
