"""WSGI entry point for gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

from backoffice.runtime import gc_settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.local")
application = get_wsgi_application()
# A web worker is a long-lived process too: with the collector's defaults, a 500-event usage batch
# (POST /v4/usageanalytics/event) spent about a sixth of its time in full passes over everything Django loaded.
gc_settle()
