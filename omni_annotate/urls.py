from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from omni_annotate import health

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="annotations:project_list", permanent=False)),
    # No sign-in: orchestrators and load balancers probe these (omni_annotate/health.py).
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file (the CSP allows no inline scripts); Swagger UI
    # draws its icons from data: SVGs, which only this page may load.
    path(
        "api/docs/",
        csp_update({"img-src": ["data:"]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("api/", include("annotations.api_urls")),
    path("api/", include("releases.api_urls")),
    path("api/", include("judges.api_urls")),
    path("api/", include("criteria.api_urls")),
    path("media-files/", include("media_pipeline.urls")),
    path("", include("annotations.urls")),
    path("", include("releases.urls")),
    path("", include("judges.urls")),
    path("", include("criteria.urls")),
]

handler500 = "annotations.errors.server_error"  # a database outage is a 503 with Retry-After
