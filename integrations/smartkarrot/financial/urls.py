"""URLs of the SmartKarrot-compatible financial endpoints (included by integrations/smartkarrot/urls.py)."""

urlpatterns: list = []
