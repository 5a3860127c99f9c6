"""``manage.py recompute [--rule-set NAME …] [--patient STUDY_ID]``: recompute derived results from stored facts."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessment import recompute
from assessment.tasks import recompute_patient
from registry.models import Patient


class Command(BaseCommand):
    help = (
        "Recompute every derived result (stage, RAIR, eligibility; follow-up categories and best responses) from "
        "the stored facts, e.g. after a protocol or rule-set change: one task per patient (a worker runs them when "
        "CELERY_BROKER_URL is set, this process otherwise), each patient in one transaction. Prints n of N as "
        "patients finish, then one line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rule-set", action="append", dest="rule_sets", metavar="NAME",
                            choices=recompute.RULE_SETS,
                            help=f"only the results stamped with this rule set (repeatable): "
                                 f"{', '.join(recompute.RULE_SETS)}")
        parser.add_argument("--patient", metavar="STUDY_ID", help="only this patient (e.g. AAA-0001)")
        parser.add_argument("--timeout", type=float, default=600.0,
                            help="seconds to wait for one patient's task (default 600)")

    def handle(self, *args, rule_sets=None, patient=None, timeout=600.0, **options) -> None:
        parts = recompute.parts_for(rule_sets)
        patients = Patient.objects.order_by("study_id")
        if patient:
            patients = patients.filter(study_id=patient)
            if not patients.exists():
                raise CommandError(f"No patient with study id {patient!r}.")
        ids = list(patients.values_list("pk", flat=True))
        total = len(ids)
        # all tasks are sent first (workers share them), then awaited in order for the progress
        results = [recompute_patient.delay(pk, list(parts)) for pk in ids]
        changed = 0
        for n, result in enumerate(results, start=1):
            outcome = result.get(timeout=timeout)
            changed += bool(outcome["changed"])
            self.stdout.write(f"{n} of {total} patients: {outcome['study_id']}"
                              + (" (changed)" if outcome["changed"] else ""))
        rules = "; ".join(f"{part}: {', '.join(recompute.PARTS[part])}" for part in parts)
        self.stdout.write(f"Recomputed {total} patient{'s' if total != 1 else ''} ({rules}): "
                          f"{changed} with a changed result.")
