"""/sandbox/…: included by backoffice/urls.py only when settings.PITBOSS_SANDBOX is on."""

from django.urls import path

from integrations.sandbox import bonus_api

app_name = "sandbox"
BONUS_API = "bonus-api/<str:label_key>"
urlpatterns = [
    path(f"{BONUS_API}/catalogue", bonus_api.catalogue, name="bonus-catalogue"),
    path(f"{BONUS_API}/bonuses", bonus_api.issue, name="bonus-issue"),
    path(f"{BONUS_API}/bonuses/<str:idempotency_key>", bonus_api.lookup, name="bonus-lookup"),
    path(f"{BONUS_API}/bonuses/<str:idempotency_key>/redeem", bonus_api.redeem, name="bonus-redeem"),
]
