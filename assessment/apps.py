from django.apps import AppConfig


class AssessmentConfig(AppConfig):
    name = "assessment"
    verbose_name = "Follow-up assessment"

    def ready(self) -> None:
        from assessment.models import (
            LabResult,
            LesionDesignation,
            Measurement,
            NewLesion,
            NewTherapy,
            Toxicity,
            Visit,
        )
        from registry import audit

        audit.register(Visit, "patient_id")
        audit.register(Measurement, "visit__patient_id")
        audit.register(NewLesion, "visit__patient_id")
        audit.register(LabResult, "patient_id")
        audit.register(Toxicity, "patient_id")
        audit.register(NewTherapy, "patient_id")
        audit.register(LesionDesignation, "lesion__patient_id")
