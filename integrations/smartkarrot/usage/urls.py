"""URLs of the SmartKarrot-compatible usage endpoints (included by integrations/smartkarrot/urls.py)."""

urlpatterns: list = []
