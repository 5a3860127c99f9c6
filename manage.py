#!/usr/bin/env python
"""Django's command-line utility for SeedTrack."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 - loads the settings: a missing or bad variable stops here
    except ImproperlyConfigured as exc:
        from config.env import startup_message

        print(startup_message(exc), file=sys.stderr)
        sys.exit(1)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
