"""Settings: `base` holds everything; `local`, `test` and `production` change only what differs."""
