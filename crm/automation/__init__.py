"""Automation rules: the `automation` consumer group's rules handler, scheduled runs, activities, backtests and
webhooks (docs/rules.md). `crm.models.rules` holds the rows, `crm.services.rules` the writes staff make."""
