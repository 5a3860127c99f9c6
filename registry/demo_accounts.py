"""The demo's published accounts: their user names, roles and sites, and the one password they share.

These stay in the registry, not in ``demo/``: a production instance, where the demo app is not installed, must
still recognise the demo accounts in order to refuse to start while one exists (registry/checks.py). The demo
loader (demo/registry_data.py) creates the users from this table.
"""

from __future__ import annotations

from registry import roles

DEMO_PASSWORD = "seedtrack-demo"
# user name → (role, site codes)
DEMO_USERS = {
    "nurse": (roles.NURSE, ["NTC"]),
    "nurse2": (roles.NURSE, ["DLH"]),
    "physician": (roles.PHYSICIAN, ["NTC", "DLH"]),
    "datamanager": (roles.DATA_MANAGER, ["NTC", "DLH"]),  # sees every patient; manages the users of both sites
    "reviewer": (roles.REVIEWER, ["NTC", "DLH"]),
}
