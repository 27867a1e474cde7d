from backoffice.models.apikeys import ApiKey
from backoffice.models.currency import ExchangeRate
from backoffice.models.roles import API_KEY_PERMS, ROLE_PERMS, Perm, Role
from backoffice.models.tenancy import Brand, Label, StaffRole

__all__ = ["API_KEY_PERMS", "ROLE_PERMS", "ApiKey", "Brand", "ExchangeRate", "Label", "Perm", "Role", "StaffRole"]
