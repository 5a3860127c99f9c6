from django.conf import settings

from registry.roles import can_see_identifiers, roles_of


def seedtrack(request):
    user = request.user
    return {
        "demo_mode": settings.DEMO_MODE,
        "show_identifiers": can_see_identifiers(user) if user.is_authenticated else False,
        "user_roles": sorted(roles_of(user)) if user.is_authenticated else [],
    }
