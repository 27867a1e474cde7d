"""The built-in sandbox operator, served under /sandbox/ by Pitboss's own process when settings.PITBOSS_SANDBOX is on
(never in production): the Bonus API (bonus_api.py) and the replica database with its live generator."""
