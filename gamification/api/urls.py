from django.urls import path

from gamification.api import missions, state, tournaments, views

PLAYER = "players/<str:ext_brand_id>/<str:user_ext_id>"
urlpatterns = [
    path("levels", views.LevelListView.as_view(), name="levels"),
    path(f"{PLAYER}/gamification", state.GamificationStateView.as_view(), name="gamification-state"),
    path(f"{PLAYER}/wallet", views.WalletView.as_view(), name="wallet"),
    path(f"{PLAYER}/wallet/entries", views.WalletEntryListView.as_view(), name="wallet-entries"),
    path(f"{PLAYER}/wallet/adjustments", views.WalletAdjustmentView.as_view(), name="wallet-adjustments"),
    path(f"{PLAYER}/store", views.StoreView.as_view(), name="store"),
    path(f"{PLAYER}/store/purchases", views.StorePurchaseView.as_view(), name="store-purchases"),
    path(f"{PLAYER}/missions", missions.PlayerMissionsView.as_view(), name="missions"),
    path(f"{PLAYER}/missions/<int:mission_id>/opt-in", missions.MissionOptInView.as_view(), name="mission-opt-in"),
    path(f"{PLAYER}/missions/<int:mission_id>/claim", missions.MissionClaimView.as_view(), name="mission-claim"),
    path(f"{PLAYER}/badges", missions.PlayerBadgesView.as_view(), name="badges"),
    path(f"{PLAYER}/badges/<int:badge_id>/awards", missions.BadgeAwardView.as_view(), name="badge-awards"),
    path("tournaments", tournaments.TournamentListView.as_view(), name="tournaments"),
    path("tournaments/<int:instance_id>", tournaments.TournamentDetailView.as_view(), name="tournament"),
    path(
        "tournaments/<int:instance_id>/leaderboard",
        tournaments.TournamentLeaderboardView.as_view(),
        name="tournament-leaderboard",
    ),
    path(f"{PLAYER}/tournaments", tournaments.PlayerTournamentListView.as_view(), name="player-tournaments"),
    path(
        f"{PLAYER}/tournaments/<int:instance_id>/registrations",
        tournaments.PlayerTournamentRegistrationView.as_view(),
        name="player-tournament-registrations",
    ),
]
