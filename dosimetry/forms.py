"""Dosimetry forms: collect input; models and services validate and save."""

from __future__ import annotations

from django import forms

from dosimetry.models import ImplantProcedure, StructureRole
from registry.forms import ClinicalForm


class ProcedureForm(ClinicalForm):
    class Meta:
        model = ImplantProcedure
        fields = [
            "date", "lesions", "operator", "ct_scanner", "anaesthesia", "positioning_aids", "needles", "seed_model",
            "seeds_implanted", "activity_per_seed_mbq", "activity_calibration_date", "prescription_gy",
            "intraoperative_events", "deviation_from_plan", "deviation_reason",
        ]
        widgets = {"lesions": forms.CheckboxSelectMultiple, "intraoperative_events": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lesions"].queryset = patient.lesions.all()
        self.fields["prescription_gy"].help_text = "Protocol range 110–140 Gy (outside it: a warning, not a refusal)."


class PlanHeaderForm(forms.Form):
    kind = forms.ChoiceField(choices=[("pre", "Pre-plan"), ("post", "Post-implant verification")])
    seed_count = forms.IntegerField(min_value=1, max_value=300, required=False, label="Seeds in the plan")
    prescription_gy = forms.DecimalField(max_digits=6, decimal_places=1, label="Prescription (Gy)")
    tps_name = forms.CharField(max_length=100, required=False, label="Planning system")


class StructureMetricsForm(forms.Form):
    role = forms.ChoiceField(choices=[("", "—")] + list(StructureRole.choices), required=False)
    name = forms.CharField(max_length=64, required=False, label="Name in the TPS")
    volume_cm3 = forms.FloatField(required=False, label="Volume (cm³)")
    d90_gy = forms.FloatField(required=False, label="D90 (Gy)")
    d100_gy = forms.FloatField(required=False, label="D100 (Gy)")
    dmean_gy = forms.FloatField(required=False, label="Dmean (Gy)")
    dmax_gy = forms.FloatField(required=False, label="Dmax (Gy)")
    v100_pct = forms.FloatField(required=False, label="V100 (%)")
    v150_pct = forms.FloatField(required=False, label="V150 (%)")
    v200_pct = forms.FloatField(required=False, label="V200 (%)")
    ci = forms.FloatField(required=False, label="CI")
    ei = forms.FloatField(required=False, label="EI")

    def row(self) -> dict | None:
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        return data if data.get("role") else None


StructureFormSet = forms.formset_factory(StructureMetricsForm, extra=4, max_num=10)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern): cleans each, returns the list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data]
        return [super().clean(data, initial)]


class DicomUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=[("pre", "Pre-plan"), ("post", "Post-implant verification")])
    files = MultipleFileField(
        label="DICOM RT export (RTDOSE, RTSTRUCT and, for the TG-43 check, RTPLAN; CT slices are ignored)",
    )


CLIP_LABEL = "Clip structures to the dose grid"
CLIP_HELP = ("A structure reaching beyond the dose grid is imported clipped to it, with a warning naming the volume "
             "left out (cm³ and %). Unticked, such an export is refused.")


def clip_field(initial: bool = False) -> forms.BooleanField:
    return forms.BooleanField(label=CLIP_LABEL, required=False, initial=initial, help_text=CLIP_HELP)


class MappingForm(forms.Form):
    def __init__(self, *args, roi_names=(), initial_mapping=None, with_override=False, clip_to_grid=False,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if with_override:
            self.add_override_field()
        for i, name in enumerate(roi_names):
            self.fields[f"roi_{i}"] = forms.ChoiceField(
                label=f"Structure “{name}”", required=False,
                choices=[("", "ignore")] + list(StructureRole.choices),
                initial=(initial_mapping or {}).get(name, ""),
            )
        self.fields["clip_to_grid"] = clip_field(clip_to_grid)
        self.roi_names = list(roi_names)

    def add_override_field(self) -> None:
        self.fields["override_reason"] = forms.CharField(
            label="Override reason (physician)", required=False, max_length=1000,
            widget=forms.Textarea(attrs={"rows": 2}),
            help_text="Why the export may be imported despite the warnings above (at least 5 characters).")

    def mapping(self) -> dict[str, str]:
        return {name: self.cleaned_data[f"roi_{i}"] for i, name in enumerate(self.roi_names)}


class RetryForm(forms.Form):
    """Retry a failed import, optionally clipping the structures to the dose grid this time."""

    def __init__(self, *args, clip_to_grid=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clip_to_grid"] = clip_field(clip_to_grid)


class PlanOfRecordForm(forms.Form):
    """Choose the plan of record of one phase among its plans."""

    plan = forms.TypedChoiceField(coerce=int, label="Plan of record")
    reason = forms.CharField(max_length=200, required=False, label="Reason (optional)")

    def __init__(self, *args, plans=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = [(p.pk, label) for p, label in plans]
