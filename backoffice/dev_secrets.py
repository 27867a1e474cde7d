"""Development secrets, generated once per checkout into `$PITBOSS_VAR_DIR/dev-secrets.env` (local settings only).

No secret is committed to the repository: the first process that needs one generates all three, and every later
process (web, worker and beat start together under `make run`) reads the same file. A value set in the environment
always wins over the file.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

FILE_NAME = "dev-secrets.env"
NAMES = ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "FIELD_LOOKUP_KEY")


def dev_secrets(var_dir: Path) -> dict[str, str]:
    """The checkout's development secrets, created (mode 0600) on first use."""
    path = var_dir / FILE_NAME
    if not path.exists():
        _create(path)
    lines = (line.partition("=") for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, _, value in lines}


def apply_dev_secrets(var_dir: Path) -> None:
    """Put the development secrets in the environment where it has no value of its own, before settings read it."""
    if all(os.environ.get(name) for name in NAMES):
        return  # nothing to generate: a configured machine keeps its var/ free of secrets it does not use
    for name, value in dev_secrets(var_dir).items():
        if not os.environ.get(name):
            os.environ[name] = value


def _create(path: Path) -> None:
    """Write the file whole under a private name, then link it into place: if several processes race, the first
    link wins and the others read it, so they all agree and none reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "FIELD_LOOKUP_KEY": secrets.token_urlsafe(32),
    }
    text = "# Development secrets of this checkout, generated on first use. Never copy them to production.\n"
    text += "".join(f"{name}={value}\n" for name, value in values.items())
    private = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.link(private, path)
    except FileExistsError:
        return  # another process was first: its values are the checkout's
    finally:
        private.unlink(missing_ok=True)
    _warn_if_data_predates(path.parent)


def _warn_if_data_predates(var_dir: Path) -> None:
    # Earlier checkouts used fixed development keys; data they encrypted cannot be read with the new ones.
    if (var_dir / "pgdata").exists():
        print(
            f"New development secrets in {var_dir / FILE_NAME}. The embedded database in {var_dir / 'pgdata'} was "
            "filled with other keys: its players' email and phone no longer decrypt. Start afresh with "
            "`make stop && rm -rf var` (or `make clean`), then `make run`.",
            file=sys.stderr,
        )
