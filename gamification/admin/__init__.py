from gamification.admin import player_tab  # noqa: F401 - registers the player page panels and the Gamification tab
from gamification.admin.badges import BadgeAdmin
from gamification.admin.credits import CreditLimitAdmin, CreditRequestAdmin, WithheldCreditAdmin
from gamification.admin.levels import LevelAdmin
from gamification.admin.missions import MissionAdmin
from gamification.admin.store import StoreCategoryAdmin, StoreItemAdmin, StorePurchaseAdmin
from gamification.admin.tournament_instances import TournamentInstanceAdmin
from gamification.admin.tournaments import TournamentAdmin
from gamification.admin.wallet import WalletEntryAdmin

__all__ = [
    "BadgeAdmin",
    "CreditLimitAdmin",
    "CreditRequestAdmin",
    "LevelAdmin",
    "MissionAdmin",
    "StoreCategoryAdmin",
    "StoreItemAdmin",
    "StorePurchaseAdmin",
    "TournamentAdmin",
    "TournamentInstanceAdmin",
    "WalletEntryAdmin",
    "WithheldCreditAdmin",
]
