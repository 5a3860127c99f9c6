from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from registry import accounts
from registry import views as registry_views

urlpatterns = [
    path("", registry_views.home, name="home"),
    path("login/", login_not_required(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", accounts.PasswordChange.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("admin/", admin.site.urls),
    path("", include("registry.urls")),
    path("", include("dosimetry.urls")),
    path("", include("assessment.urls")),
]

# Friendly error pages (templates/400.html, 403.html, 404.html; 403_csrf.html for a failed CSRF check). The 500
# page renders even when the database is down (config/errors.py).
handler500 = "config.errors.server_error"
