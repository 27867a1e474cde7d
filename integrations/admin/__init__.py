from integrations.admin import replica, stream  # noqa: F401 - registers the model admins
