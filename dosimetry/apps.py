from django.apps import AppConfig
from django.db.models.signals import post_migrate

from common import protocol
from dosimetry.protocol import DosimetrySettings


class DosimetryConfig(AppConfig):
    name = "dosimetry"

    def ready(self) -> None:
        # The Celery tasks register with the app now, in the web process too (dosimetry.services may send one by
        # name without importing the tasks module, which imports the services).
        from dosimetry import tasks  # noqa: F401
        from dosimetry.catalogue import ensure_seed_catalogue

        post_migrate.connect(ensure_seed_catalogue, sender=self)

        from django.db.models.signals import post_delete

        from dosimetry.models import DicomFile, DicomImport, DosePlan, ImplantProcedure, StructureDose
        from dosimetry.services import after_plan_deleted
        from registry import audit

        # A plan of record deleted by any path (deletion with a reason, admin) withdraws the sign-off and the
        # phase gets its default plan of record; replacements inside plan_save are settled there instead.
        post_delete.connect(after_plan_deleted, sender=DosePlan, dispatch_uid="dosimetry-plan-of-record-deleted")

        audit.register(ImplantProcedure, "patient_id")
        audit.register(DosePlan, "procedure__patient_id")
        audit.register(StructureDose, "plan__procedure__patient_id")
        audit.register(DicomImport, "procedure__patient_id")  # its structure mapping and warnings included
        audit.register(DicomFile, "dicom_import__procedure__patient_id")

        from dosimetry import deletion as rules
        from registry import deletion
        from registry.models import Lesion

        deletion.register_blocker(Lesion, rules.lesion_blockers)

        # The patient page's implant section and the reviewers' day 1 (the first implant) come from here.
        from dosimetry.selectors import first_implant_date, procedures_panel
        from registry import anchor, panels

        panels.register_panel("procedures", 100, procedures_panel, "dosimetry/_patient_procedures.html")
        anchor.register_anchor(first_implant_date)
        self.register_protocol()

    def register_protocol(self) -> None:
        """The dosimetry protocol section, parsed (and checked) now: a bad value stops the start naming it."""
        protocol.register("dosimetry", DosimetrySettings.from_protocol)
