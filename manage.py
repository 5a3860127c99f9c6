#!/usr/bin/env python
"""Django's command-line utility for SeedTrack."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 - loads the settings: a missing or bad variable stops here
        django.setup()  # the apps parse the protocol (common/protocol.py): a bad value stops here too
    except ImproperlyConfigured as exc:
        from config.env import startup_message

        print(startup_message(exc), file=sys.stderr)
        sys.exit(1)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
