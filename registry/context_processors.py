from django.conf import settings

from registry.roles import can_see_identifiers, roles_of


def seedtrack(request):
    # An error page may be rendered for a request refused before AuthenticationMiddleware ran (a bad Host
    # header): no request.user then, and no identifiers or roles.
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "demo_mode": settings.DEMO_MODE,
        "show_identifiers": can_see_identifiers(user) if signed_in else False,
        "user_roles": sorted(roles_of(user)) if signed_in else [],
    }
