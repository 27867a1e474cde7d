"""URLs of the SmartKarrot-compatible tickets endpoints (included by integrations/smartkarrot/urls.py)."""

urlpatterns: list = []
