from django.urls import path

from gamification.api import views

PLAYER = "players/<str:ext_brand_id>/<str:user_ext_id>"
urlpatterns = [
    path(f"{PLAYER}/wallet", views.WalletView.as_view(), name="wallet"),
    path(f"{PLAYER}/wallet/entries", views.WalletEntryListView.as_view(), name="wallet-entries"),
    path(f"{PLAYER}/wallet/adjustments", views.WalletAdjustmentView.as_view(), name="wallet-adjustments"),
    path(f"{PLAYER}/store", views.StoreView.as_view(), name="store"),
    path(f"{PLAYER}/store/purchases", views.StorePurchaseView.as_view(), name="store-purchases"),
]
