"""The WSGI application (``gunicorn config.wsgi:application``). A missing or bad setting stops the start with
one line on stderr, not a traceback."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
try:
    application = get_wsgi_application()
    from registry.checks import refuse_demo_accounts  # no demo account with DEBUG off

    refuse_demo_accounts()
    from dosimetry.services import recover_interrupted_imports

    recover_interrupted_imports()  # imports left "importing" by a stopped process end "failed", retryable
except ImproperlyConfigured as exc:
    from config.env import startup_message

    print(startup_message(exc), file=sys.stderr)
    # Under gunicorn a worker that exits 1 is restarted for ever; 3 (gunicorn's WORKER_BOOT_ERROR) stops it.
    sys.exit(3 if "gunicorn" in sys.modules else 1)
