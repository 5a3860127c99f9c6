#!/usr/bin/env python
"""Django's command-line utility for SeedTrack."""
import os
import sys
from pathlib import Path

DEMO_MANAGEMENT = Path(__file__).resolve().parent / "demo" / "management"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line, find_commands

    try:
        settings.INSTALLED_APPS  # noqa: B018 - loads the settings: a missing or bad variable stops here
        django.setup()  # the apps parse the protocol (common/protocol.py): a bad value stops here too
    except ImproperlyConfigured as exc:
        from config.env import startup_message

        print(startup_message(exc), file=sys.stderr)
        sys.exit(1)
    # The demo's commands exist only where the demo app is installed: say why instead of "Unknown command".
    if len(sys.argv) > 1 and "demo" not in settings.INSTALLED_APPS and sys.argv[1] in find_commands(
            str(DEMO_MANAGEMENT)):
        print(f"SeedTrack: unknown command {sys.argv[1]!r}: it belongs to the demo app, which is installed only "
              "in demo mode (set SEEDTRACK_DEMO=1, as `make run` does)", file=sys.stderr)
        sys.exit(1)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
