from integrations.admin import bonus_api, replica, stream  # noqa: F401 - registers the model admins
