"""django-unfold theme configuration (imported into settings as UNFOLD)."""

UNFOLD = {
    "SITE_TITLE": "Pitboss",
    "SITE_HEADER": "Pitboss",
    "SITE_SYMBOL": "casino",
    "SHOW_HISTORY": True,
}
