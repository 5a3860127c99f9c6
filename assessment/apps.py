from django.apps import AppConfig

from assessment.protocol import CohortSettings, DashboardSettings, FollowupSettings
from assessment.recist import RecistSettings
from assessment.schedule import ScheduleSettings
from common import protocol


class AssessmentConfig(AppConfig):
    name = "assessment"
    verbose_name = "Follow-up assessment"

    def ready(self) -> None:
        # The Celery tasks register with the app now, in the web process too (assessment.services may send one by
        # name without importing the tasks module, which imports the services).
        from assessment import tasks  # noqa: F401
        from assessment.models import (
            FollowUpStatus,
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
        audit.register(FollowUpStatus, "patient_id")

        # Explicit deletion rules (registry/deletion.py): visits go before the implants they point to.
        from assessment import deletion as rules
        from dosimetry.models import ImplantProcedure
        from registry import deletion
        from registry.models import Lesion, Patient

        deletion.register_before_delete(Patient, rules.patient_visits_first)
        deletion.register_blocker(Lesion, rules.lesion_blockers)
        deletion.register_blocker(ImplantProcedure, rules.procedure_blockers)

        # The registry announces changed facts and shows the patient page; follow-up plugs into both.
        from assessment.selectors import followup_panel
        from assessment.services import recompute_followup
        from registry import derived, panels

        derived.register(recompute_followup)
        panels.register_panel("followup", 200, followup_panel, "assessment/_patient_followup.html")
        self.register_protocol()

    def register_protocol(self) -> None:
        """The follow-up protocol sections, parsed (and checked) now: a bad value stops the start naming it."""
        protocol.register("recist", RecistSettings.from_protocol)
        protocol.register("schedule", ScheduleSettings.from_protocol)
        protocol.register("followup", FollowupSettings.from_protocol)
        protocol.register("cohort", CohortSettings.from_protocol)
        protocol.register("dashboard", DashboardSettings.from_protocol)
