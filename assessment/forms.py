"""Visit-entry forms. They only collect and parse input; the models' clean() rules and
``assessment.services.visit_save`` validate and save it (one transaction for the whole page)."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from django import forms

from assessment import choices as c
from assessment.models import Visit
from assessment.thyroglobulin import assay_key
from registry.forms import ClinicalForm, DateInput

_LAB_TEXT = re.compile(r"^\s*(?P<q>[<>=]?)\s*(?P<num>\d+(?:[.,]\d*)?|[.,]\d+)\s*$")
AXIS = forms.NumberInput(attrs={"step": "0.1", "min": "0", "inputmode": "decimal", "class": "num"})
# Inputs a nurse fills at nearly every visit carry data-main: Enter moves to the next one (visit_form.js).
MAIN_AXIS = forms.NumberInput(attrs={"step": "0.1", "min": "0", "inputmode": "decimal", "class": "num",
                                     "data-main": "1"})


class VisitForm(ClinicalForm):
    class Meta:
        model = Visit
        fields = ["timepoint", "visit_date", "modality", "slice_thickness_mm", "reader", "imaging_nonspecific", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["visit_date"].widget.attrs["data-main"] = "1"  # first stop of the Enter chain


MDA_FINDINGS = [
    ("lytic_complete_fill_in", "CR: complete fill-in / sclerosis of a lytic lesion (XR/CT)"),
    ("blastic_normalised", "CR: blastic lesion normalised (XR/CT)"),
    ("mri_signal_normalised", "CR: MRI signal normalised"),
    ("ss_uptake_normalised", "CR: bone-scan uptake normalised"),
    ("sclerotic_rim", "PR: sclerotic rim around a lytic lesion (XR/CT)"),
    ("lytic_partial_fill_in", "PR: partial fill-in / sclerosis (XR/CT)"),
    ("blastic_decrease", "PR: blastic lesion decreased (XR/CT)"),
    ("ss_regression", "PR: regression on bone scan"),
    ("no_change", "SD: no change"),
    ("ill_defined_increase", "PD: ill-defined lesion increased"),
    ("new_bone_lesion", "PD: new bone lesion"),
    ("ss_increased_activity", "PD: increased activity on bone scan"),
]


def _text(value) -> str:
    """A posted value as the user typed it, for messages."""
    return repr(value.isoformat() if hasattr(value, "isoformat") else str(value))


class MeasurementForm(forms.Form):
    """One followed lesion. ``lesion``, ``role``, ``previous`` and ``nadir`` are set by the view for display."""

    qualifier = forms.ChoiceField(choices=c.MeasurementQualifier.choices, initial=c.MeasurementQualifier.MEASURED)
    long_mm = forms.DecimalField(required=False, widget=MAIN_AXIS, max_digits=5, decimal_places=1)
    short_mm = forms.DecimalField(required=False, widget=MAIN_AXIS, max_digits=5, decimal_places=1)
    third_mm = forms.DecimalField(required=False, widget=MAIN_AXIS, max_digits=5, decimal_places=1)
    non_target_status = forms.ChoiceField(choices=[("", "—"), *c.NonTargetStatus.choices], required=False)
    enhancement = forms.ChoiceField(choices=[("", "—"), *c.Enhancement.choices], required=False)

    def __init__(self, *args, lesion=None, role="", previous=None, nadir=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lesion, self.role, self.previous, self.nadir = lesion, role, previous, nadir
        names = {"qualifier": "finding", "long_mm": "long axis (mm)", "short_mm": "short axis (mm)",
                 "third_mm": "third axis (mm)", "non_target_status": "non-target status", "enhancement": "enhancement"}
        for name, text in names.items():
            self.fields[name].label = f"{lesion.label} {text}" if lesion else text
        if role != c.LesionRole.NON_TARGET:
            del self.fields["non_target_status"]
        self.is_bone = bool(lesion and lesion.region == "bone")
        if self.is_bone:  # MD Anderson criteria for bone metastases (reference §5)
            label = lesion.label
            self.fields["mda_modality"] = forms.ChoiceField(
                choices=[("", "—"), *c.MdaModality.choices], required=False, label=f"{label} MDA modality")
            self.fields["mda_findings"] = forms.MultipleChoiceField(
                choices=MDA_FINDINGS, required=False, widget=forms.CheckboxSelectMultiple,
                label=f"{label} MDA findings")
            self.fields["flare_excluded"] = forms.BooleanField(required=False,
                                                               label=f"{label} bone-scan flare excluded")

    def values(self) -> dict:
        d = dict(self.cleaned_data)
        if "non_target_status" not in d:
            d["non_target_status"] = ""
        if "mda_findings" in d:
            d["mda_findings"] = list(d["mda_findings"])
        return d

    def mda_fields(self):
        return [self[name] for name in ("mda_modality", "mda_findings", "flare_excluded") if name in self.fields]


class LabForm(forms.Form):
    """Tg, TgAb or TSH typed as reported: "3.2", "<0.2", ">1000"."""

    result = forms.CharField(required=False, max_length=20)
    unit = forms.ChoiceField(choices=())
    assay = forms.CharField(required=False, max_length=60)
    loq = forms.DecimalField(label="limit of quantification", required=False, widget=AXIS)
    tsh_state = forms.ChoiceField(choices=c.TshState.choices, initial=c.TshState.SUPPRESSED)
    tgab_cutoff_iu_ml = forms.DecimalField(label="positivity cut-off (IU/mL)", required=False, widget=AXIS)

    def __init__(self, *args, analyte: str, known_assays=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.analyte = analyte
        self.known_assays = list(known_assays)  # TgAb: earlier assays with their cut-offs, latest first
        name = c.Analyte(analyte).label
        self.fields["unit"].choices = [(u, u) for u in c.ANALYTE_UNITS[c.Analyte(analyte)]]
        self.fields["result"].label = f"{name} result"
        self.fields["result"].widget.attrs.update({"placeholder": "e.g. 3.2 or <0.2", "class": "num"})
        if analyte != c.Analyte.TSH:
            self.fields["result"].widget.attrs["data-main"] = "1"
        for f, text in (("unit", "unit"), ("assay", "assay"), ("loq", "limit of quantification"),
                        ("tsh_state", "drawn under"), ("tgab_cutoff_iu_ml", "positivity cut-off (IU/mL)")):
            self.fields[f].label = f"{name} {text}"
        if analyte != c.Analyte.TG:
            del self.fields["tsh_state"]
        if analyte != c.Analyte.TGAB:
            del self.fields["tgab_cutoff_iu_ml"]
        elif self.known_assays:  # visit_form.js fills the cut-off when a known assay is typed or picked
            self.fields["assay"].widget.attrs.update({
                "list": "tgab-assays",
                "data-cutoffs": json.dumps({assay_key(k.assay): str(k.cutoff_iu_ml) for k in self.known_assays})})
            self.fields["tgab_cutoff_iu_ml"].help_text = "Prefilled from the previous result with this assay: " + (
                "; ".join(f"{k.assay or 'assay not named'} {k.cutoff_iu_ml.normalize():f} IU/mL"
                          for k in self.known_assays))
        if analyte == c.Analyte.TSH:
            del self.fields["loq"]

    def clean(self):
        """Without a result, nothing else of the row may be typed or changed: it would be dropped silently."""
        d = super().clean()
        if d.get("result") is not None or "result" in self.errors:
            return self._prefill_cutoff(d)
        name = c.Analyte(self.analyte).label
        if self.initial.get("result") and "result" in self.changed_data:
            self.add_error("result", f"{name} result {self.initial['result']} is stored for this visit and cannot be "
                                     "cleared here; correct the value instead.")
            return d
        for field in ("assay", "loq", "unit", "tsh_state", "tgab_cutoff_iu_ml"):
            if field not in self.fields or field in self.errors:
                continue
            value = d.get(field)
            # what the person typed or changed; the form's own prefill (the previous TgAb assay and its cut-off)
            # left as shown is not an entry
            if field in self.changed_data and value not in (None, ""):
                self.add_error(field, f"{self.fields[field].label} {_text(value)} is given without a {name} result; "
                                      f"allowed only with a result: type the {name} result or clear it.")
        return d

    def clean_result(self):
        text = (self.cleaned_data.get("result") or "").strip()
        if not text:
            return None
        m = _LAB_TEXT.match(text)
        if m is None:
            raise forms.ValidationError(
                f"{c.Analyte(self.analyte).label} result {text!r} is not a number; allowed: a number ≥ 0, "
                "optionally preceded by < or > (e.g. <0.2, >1000)."
            )
        try:
            value = Decimal(m.group("num").replace(",", "."))
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimal text
            raise forms.ValidationError(f"Result {text!r} is not a number.") from None
        return (m.group("q") or "=", value)

    def _prefill_cutoff(self, d: dict) -> dict:
        if self.analyte == c.Analyte.TGAB and d.get("result") and d.get("tgab_cutoff_iu_ml") is None:
            # left blank: the cut-off of the previous result with the typed assay, else of the latest result
            typed = assay_key(d.get("assay"))
            known = next((k for k in self.known_assays if assay_key(k.assay) == typed), None) if typed else (
                self.known_assays[0] if self.known_assays else None)
            if known is not None:
                d["tgab_cutoff_iu_ml"] = known.cutoff_iu_ml
                d["assay"] = known.assay  # the spelling already on record
        return d

    def row(self) -> dict | None:
        """The LabResult fields, or None when no result was typed."""
        parsed = self.cleaned_data.get("result")
        if not parsed:
            return None
        q, value = parsed
        row = {"analyte": self.analyte, "qualifier": q, "value": value, "unit": self.cleaned_data["unit"],
               "assay": self.cleaned_data.get("assay", "")}
        for f in ("loq", "tsh_state", "tgab_cutoff_iu_ml"):
            if f in self.cleaned_data:
                row[f] = self.cleaned_data[f]
        return row


class NewLesionForm(forms.Form):
    site = forms.CharField(required=False, max_length=100, label="new lesion site")
    certainty = forms.ChoiceField(choices=[("", "—"), *c.NewLesionCertainty.choices], required=False,
                                  label="new lesion certainty")
    modality = forms.ChoiceField(choices=c.Modality.choices, initial=c.Modality.CT, label="new lesion modality")

    def clean(self):
        d = super().clean()
        if not d.get("site") and "modality" in self.changed_data and d.get("modality"):
            self.add_error("modality", f"New lesion modality {_text(d['modality'])} is given without a site; allowed "
                                       "only with a site: name the site of the new lesion or leave the row empty.")
        if d.get("site") and not d.get("certainty"):
            self.add_error("certainty", "Say whether the new lesion is equivocal or unequivocal.")
        if d.get("certainty") and not d.get("site"):
            self.add_error("site", "Name the site of the new lesion.")
        return d

    def row(self) -> dict | None:
        d = self.cleaned_data
        return {"site": d["site"], "certainty": d["certainty"], "modality": d["modality"]} if d.get("site") else None


# Labels start with the digit, so typing "1" on the focused list picks grade 1.
GRADE_CHOICES = [("", "not scored"), *[(str(g), str(g)) for g in range(0, 5)]]


class SkinForm(forms.Form):
    """RTOG/EORTC skin score at the visit; acute or late is decided from the date (day 90), not chosen here."""

    grade = forms.ChoiceField(choices=GRADE_CHOICES, required=False, label="RTOG/EORTC skin grade",
                              widget=forms.Select(attrs={"data-main": "1"}))
    subcutaneous_grade = forms.ChoiceField(choices=GRADE_CHOICES, required=False,
                                           label="RTOG/EORTC late subcutaneous grade (after day 90)")

    def clean(self):
        d = super().clean()
        for field in ("grade", "subcutaneous_grade"):
            stored = self.initial.get(field)
            if stored not in (None, "") and not d.get(field) and field not in self.errors:
                self.add_error(field, f"{self.fields[field].label} {stored} is stored for this visit and cannot be "
                                      "cleared here; correct the grade instead.")
        return d

    def rows(self) -> list[dict]:
        out = []
        if self.cleaned_data.get("grade"):
            out.append({"kind": c.ToxicityKind.RTOG_SKIN, "grade": int(self.cleaned_data["grade"])})
        if self.cleaned_data.get("subcutaneous_grade"):
            out.append({"kind": c.ToxicityKind.RTOG_SUBCUTANEOUS,
                        "grade": int(self.cleaned_data["subcutaneous_grade"])})
        return out


class ComplicationForm(forms.Form):
    ctcae_term = forms.ChoiceField(choices=[("", "—"), *c.CTCAE_TERM_CHOICES], required=False,
                                   label="complication (CTCAE v5 term)")
    grade = forms.ChoiceField(choices=[("", "—"), *[(str(g), f"grade {g}") for g in range(1, 6)]], required=False,
                              label="complication grade")
    specify = forms.CharField(required=False, max_length=100, label="specify (Other, specify)")
    onset_date = forms.DateField(required=False, widget=DateInput(), label="complication onset")
    resolution_date = forms.DateField(required=False, widget=DateInput(), label="complication resolved")
    treatment = forms.CharField(required=False, max_length=200, label="complication treatment")

    def clean(self):
        d = super().clean()
        if d.get("ctcae_term") and not d.get("grade"):
            self.add_error("grade", "Give the CTCAE grade (1–5) of the complication.")
        if not d.get("ctcae_term") and "ctcae_term" not in self.errors:
            for field in ("grade", "specify", "onset_date", "resolution_date", "treatment"):
                value = d.get(field)
                if value not in (None, "") and field not in self.errors:
                    label = self.fields[field].label
                    self.add_error(field, f"{label[0].upper()}{label[1:]} {_text(value)} is given without a CTCAE "
                                          "term; allowed only with a term: choose the complication's CTCAE term or "
                                          "clear it.")
        return d

    def row(self) -> dict | None:
        d = self.cleaned_data
        if not d.get("ctcae_term"):
            return None
        return {"kind": c.ToxicityKind.CTCAE, "ctcae_term": d["ctcae_term"], "grade": int(d["grade"]),
                "specify": d.get("specify", ""), "onset_date": d.get("onset_date"),
                "resolution_date": d.get("resolution_date"), "treatment": d.get("treatment", "")}


class DesignationForm(forms.Form):
    """Target / non-target role of each lesion (strict RECIST rules are checked by the service)."""

    def __init__(self, *args, lesions=(), roles=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lesions = list(lesions)
        for les in self.lesions:
            self.fields[f"role_{les.pk}"] = forms.ChoiceField(
                choices=c.LesionRole.choices, label=f"{les.label} {les.site_text}",
                initial=(roles or {}).get(les.pk, c.LesionRole.NON_TARGET))

    def roles(self) -> dict[int, str]:
        return {les.pk: self.cleaned_data[f"role_{les.pk}"] for les in self.lesions}
