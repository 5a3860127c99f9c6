from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DosimetryConfig(AppConfig):
    name = "dosimetry"

    def ready(self) -> None:
        from dosimetry.catalogue import ensure_seed_catalogue

        post_migrate.connect(ensure_seed_catalogue, sender=self)

        from dosimetry.models import DosePlan, ImplantProcedure, StructureDose
        from registry import audit

        audit.register(ImplantProcedure, "patient_id")
        audit.register(DosePlan, "procedure__patient_id")
        audit.register(StructureDose, "plan__procedure__patient_id")

        from dosimetry import deletion as rules
        from registry import deletion
        from registry.models import Lesion

        deletion.register_blocker(Lesion, rules.lesion_blockers)
