from gamification.admin.levels import LevelAdmin
from gamification.admin.wallet import WalletEntryAdmin

__all__ = ["LevelAdmin", "WalletEntryAdmin"]
