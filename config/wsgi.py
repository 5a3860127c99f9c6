import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
from registry.checks import refuse_demo_accounts  # noqa: E402, I001  (no demo account with DEBUG off)
refuse_demo_accounts()
from dosimetry.services import recover_interrupted_imports  # noqa: E402, I001 -- needs the apps loaded above
recover_interrupted_imports()  # imports left "importing" by a stopped process end "failed", retryable
