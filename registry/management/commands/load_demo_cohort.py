from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry.demo import DEMO_PASSWORD, DEMO_USERS, load_demo_cohort


class Command(BaseCommand):
    help = "Load the synthetic demo cohort (42 patients, two sites) and one demo user per role. Idempotent."

    def handle(self, *args, **options):
        if not settings.DEMO_MODE:
            # Demo users share a published password: they exist only where the demo was asked for.
            raise CommandError("Refused: demo data and demo users are loaded only in demo mode "
                               "(set SEEDTRACK_DEMO=1, as `make run` does).")
        report = load_demo_cohort()
        from django.contrib.auth import get_user_model

        from dosimetry.demo import add_demo_procedures

        procedures = add_demo_procedures(get_user_model().objects.get(username="datamanager"))
        self.stdout.write(
            f"Demo cohort: {report.patients} patients, {report.sites} sites and {report.users} users added "
            f"and {procedures} implant procedures with their plans (0 means they were already there)."
        )
        from assessment.demo import add_demo_followup, add_demo_in_follow_up

        visits = add_demo_followup(get_user_model().objects.get(username="datamanager"))
        self.stdout.write(f"Demo follow-up: {visits} visits added (0 means they were already there).")
        current = add_demo_in_follow_up(get_user_model().objects.get(username="datamanager"))
        self.stdout.write(f"Patients in follow-up now (for the worklist): {current} added.")
        self.stdout.write(f"Demo logins (password '{DEMO_PASSWORD}'):")
        for username, (role, sites) in DEMO_USERS.items():
            self.stdout.write(f"  {username:12s} {role:13s} {', '.join(sites) or 'all sites'}")
