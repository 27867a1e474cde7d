from gamification.admin.levels import LevelAdmin
from gamification.admin.store import StoreCategoryAdmin, StoreItemAdmin, StorePurchaseAdmin
from gamification.admin.wallet import WalletEntryAdmin

__all__ = ["LevelAdmin", "StoreCategoryAdmin", "StoreItemAdmin", "StorePurchaseAdmin", "WalletEntryAdmin"]
