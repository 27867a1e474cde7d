"""Local development: `make run`. Works with no environment at all."""

import os
from pathlib import Path

from backoffice.dev_secrets import apply_dev_secrets
from backoffice.env import BASE_DIR, env

# Development-only defaults, set before base reads them; a real environment value always wins. The secrets are
# generated once per checkout into $PITBOSS_VAR_DIR/dev-secrets.env: none is committed.
apply_dev_secrets(Path(env.str("PITBOSS_VAR_DIR", default=str(BASE_DIR / "var"))))
os.environ.setdefault("DJANGO_DEBUG", "true")

from backoffice.settings.base import *  # noqa: E402, F403
