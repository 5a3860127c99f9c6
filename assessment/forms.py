"""Follow-up forms: visit entry (each row's form and :class:`VisitPageForms`, the bundle of one visit page), target
designation, new therapy and follow-up status. They only collect and parse input; the models' clean() rules and
the services (``assessment.services.visit_save`` …) validate and save it (one transaction for the whole page)."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone

from assessment import choices as c
from assessment import selectors, services
from assessment.models import FollowUpStatus, NewTherapy, Visit
from assessment.queries import VisitCreateQuery
from assessment.schedule import suggest_timepoint
from assessment.thyroglobulin import assay_key
from registry import overrides
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


class TherapyForm(ClinicalForm):
    class Meta:
        model = NewTherapy
        fields = ["kind", "start_date", "notes"]


class FollowUpStatusForm(ClinicalForm):
    override_reason = forms.CharField(
        label="Override reason", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Physicians only: why the status is right despite the warnings (at least 5 characters).")

    class Meta:
        model = FollowUpStatus
        fields = ["status", "status_date", "death_cause", "death_cause_detail"]


ANALYTES = (c.Analyte.TG, c.Analyte.TGAB, c.Analyte.TSH)
N_NEW_LESION_ROWS = 2


class VisitPageForms:
    """All the forms of one visit page (visit, a measurement per followed lesion, labs, new lesions, toxicity, the
    override reason), bound together so they validate and save as one and take the service's errors back."""

    def __init__(self, request: HttpRequest, patient, visit: Visit | None, procedure):
        data = request.POST if request.method == "POST" else None
        self.query = VisitCreateQuery(request.GET, user=request.user)
        today = timezone.localdate()
        initial = {}
        if visit is None:
            when = today
            tp = self.query.values()["timepoint"] or suggest_timepoint(procedure.date, when,
                                                                       services.schedule_settings())
            initial = {"visit_date": when, "timepoint": tp, "modality": c.Modality.CT}
        self.visit = VisitForm(data, instance=visit or Visit(patient=patient, procedure=procedure), initial=initial,
                               prefix="visit")
        existing = {m.lesion_id: m for m in visit.measurements.all()} if visit else {}
        histories = selectors.lesion_histories(patient, visit.visit_date if visit else None)
        self.lesions = []
        for les, role in selectors.followed_lesions(patient):
            m = existing.get(les.pk)
            init = {f: getattr(m, f) for f in ("qualifier", "long_mm", "short_mm", "third_mm", "non_target_status",
                                               "enhancement", "mda_modality", "mda_findings", "flare_excluded")} if m else {}
            h = histories.get(les.pk)
            self.lesions.append(MeasurementForm(data, prefix=f"m{les.pk}", initial=init, lesion=les, role=role,
                                                previous=h, nadir=h.nadir_mm if h else None))
        labs = {lab.analyte: lab for lab in visit.labs.all()} if visit else {}
        cutoff = services.followup_settings().tgab_default_cutoff_iu_ml
        # the TgAb cut-off is prefilled from the patient's previous TgAb result (same assay when one is typed)
        known_tgab = services.previous_tgab_assays(patient, before=visit.visit_date if visit else None,
                                                   exclude_visit=visit)
        self.labs = []
        for analyte in ANALYTES:
            lab = labs.get(analyte)
            init = {"unit": c.ANALYTE_UNITS[analyte][0], "tgab_cutoff_iu_ml": cutoff}
            extra = {}
            if analyte == c.Analyte.TGAB:
                extra["known_assays"] = known_tgab
                if known_tgab:
                    init.update(assay=known_tgab[0].assay, tgab_cutoff_iu_ml=known_tgab[0].cutoff_iu_ml)
            if lab:
                init.update(result=lab.text, unit=lab.unit, assay=lab.assay, loq=lab.loq, tsh_state=lab.tsh_state,
                            tgab_cutoff_iu_ml=lab.tgab_cutoff_iu_ml)
            self.labs.append(LabForm(data, prefix=f"lab-{analyte}", initial=init, analyte=analyte, **extra))
        self.new_lesions = [NewLesionForm(data, prefix=f"new{i}") for i in range(N_NEW_LESION_ROWS)]
        scored = {t.kind: t.grade for t in visit.toxicities.all()} if visit else {}
        self.skin = SkinForm(data, prefix="skin", initial={
            "grade": scored.get(c.ToxicityKind.RTOG_SKIN, ""),
            "subcutaneous_grade": scored.get(c.ToxicityKind.RTOG_SUBCUTANEOUS, "")})
        self.complication = ComplicationForm(data, prefix="ctcae")
        self.override = overrides.OverrideForm(data, prefix="override")
        self.warnings: list[dict[str, str]] = []
        self.warning_message = ""

    def pending(self, exc: overrides.WarningsPending, data) -> None:
        """Re-show the page with the warnings above it and the override reason (nothing was saved)."""
        self.warnings, self.warning_message = exc.warnings, exc.text
        self.override = overrides.OverrideForm.after(exc, data, prefix="override")

    def all(self):
        return [self.visit, *self.lesions, *self.labs, *self.new_lesions, self.skin, self.complication]

    def is_valid(self) -> bool:
        return all([f.is_valid() for f in self.all()])  # a list, so every form shows its errors

    def visit_input(self) -> services.VisitInput:
        d = self.visit.cleaned_data
        return services.VisitInput(
            visit={k: d[k] for k in VisitForm.Meta.fields},
            measurements={f.lesion.pk: f.values() for f in self.lesions},
            new_lesions=[r for f in self.new_lesions if (r := f.row())],
            labs=[r for f in self.labs if (r := f.row())],
            toxicities=[*self.skin.rows(), *([r] if (r := self.complication.row()) else [])],
        )

    def attach(self, exc: ValidationError) -> None:
        """Put each ``"<row>.<field>"`` error of the service beside its input."""
        by_row = {"visit": self.visit, "toxicity": self.skin}
        by_row |= {f"measurement:{f.lesion.label}": f for f in self.lesions}
        by_row |= {f"measurement:{f.lesion.pk}": f for f in self.lesions}
        by_row |= {f"lab:{f.analyte}": f for f in self.labs}
        skin_rows = self.skin.rows()
        for key, errors in exc.message_dict.items():
            row, _, field = key.rpartition(".")
            if row.startswith("toxicity:"):
                i = int(row.split(":")[1])
                if i < len(skin_rows):
                    form = self.skin
                    field = "grade" if skin_rows[i]["kind"] == c.ToxicityKind.RTOG_SKIN else "subcutaneous_grade"
                else:
                    form = self.complication
            elif row.startswith("new_lesion:"):
                form = [f for f in self.new_lesions if f.row()][int(row.split(":")[1])]
            else:
                form = by_row.get(row, self.visit)
            if row.startswith("lab:") and field == "value":
                field = "result"
            form.add_error(field if field in form.fields else None, errors)
