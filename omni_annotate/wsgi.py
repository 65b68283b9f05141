import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni_annotate.settings")
application = get_wsgi_application()
# Import every view now (Django would on the first request): with gunicorn's preload_app the workers
# fork with them loaded, so no one's first page or upload waits seconds for the imports.
get_resolver().url_patterns  # noqa: B018 -- the property loads the URLconf
