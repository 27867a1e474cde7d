from crm.models.players import AccountStatus, Gender, Player

__all__ = ["AccountStatus", "Gender", "Player"]
