from django.apps import AppConfig
from django.db.models.signals import post_migrate

from common import protocol
from registry.eligibility import EligibilityThresholds
from registry.plausibility import DateLimits
from registry.rair import RairSettings


class RegistryConfig(AppConfig):
    name = "registry"

    def ready(self) -> None:
        from registry.roles import ensure_roles

        # Groups and their permissions are (re)built after every migrate, once all permissions exist.
        post_migrate.connect(ensure_roles, sender=self)

        from registry import audit, checks  # noqa: F401  (checks registers the deployment checks)
        from registry.models import (
            EligibilityAssessment,
            IodineCourse,
            IodineUptake,
            Lesion,
            Patient,
            RairClassification,
        )

        audit.register(Patient, "id")
        audit.register(Lesion, "patient_id")
        audit.register(IodineCourse, "patient_id")
        audit.register(IodineUptake, "course__patient_id")
        audit.register(RairClassification, "patient_id")
        audit.register(EligibilityAssessment, "patient_id")

        # Every audited write of every app moves the data version that keys the shared dashboard cache.
        from common import writes
        from registry import dataversion

        writes.on_write(dataversion.bump_after_write)

        self.register_protocol()

    def register_protocol(self) -> None:
        """The registry's protocol sections, parsed (and checked) now: a bad value stops the start naming it."""
        protocol.register("eligibility", EligibilityThresholds.from_mapping)
        protocol.register("rair", RairSettings.from_protocol)
        protocol.register("plausibility", DateLimits.from_mapping)
