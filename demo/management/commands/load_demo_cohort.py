"""``manage.py load_demo_cohort``: the synthetic cohort, its implants and follow-up, and one demo user per role.

The command exists only where the demo app is installed (demo mode, ``SEEDTRACK_DEMO=1``): demo users share a
published password, so a production instance never has the means to create them.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from demo.assessment_data import add_demo_followup, add_demo_in_follow_up
from demo.dosimetry_data import add_demo_procedures
from demo.registry_data import DEMO_PASSWORD, DEMO_USERS, load_demo_cohort


class Command(BaseCommand):
    help = "Load the synthetic demo cohort (42 patients, two sites) and one demo user per role. Idempotent."

    def handle(self, *args, **options):
        report = load_demo_cohort()
        author = get_user_model().objects.get(username="datamanager")
        procedures = add_demo_procedures(author)
        self.stdout.write(
            f"Demo cohort: {report.patients} patients, {report.sites} sites and {report.users} users added "
            f"and {procedures} implant procedures with their plans (0 means they were already there)."
        )
        visits = add_demo_followup(author)
        self.stdout.write(f"Demo follow-up: {visits} visits added (0 means they were already there).")
        current = add_demo_in_follow_up(author)
        self.stdout.write(f"Patients in follow-up now (for the worklist): {current} added.")
        self.stdout.write(f"Demo logins (password '{DEMO_PASSWORD}'):")
        for username, (role, sites) in DEMO_USERS.items():
            self.stdout.write(f"  {username:12s} {role:13s} {', '.join(sites) or 'all sites'}")
