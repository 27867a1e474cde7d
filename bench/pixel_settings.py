"""The production settings plus one bare view (bench/pixel_urls.py): the floor bench/pixel.py measures the pixel
against, served by the same gunicorn, middleware and pool. Used only by the bench's own processes."""

from backoffice.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.pixel_urls"
