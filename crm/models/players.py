"""Players: the operator's end users, with the profile of the reference users view."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F
from django.db.models.functions import Cast, Upper

from backoffice.fields import EncryptedTextField
from backoffice.models.base import LabelScopedModel


class AccountStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"
    SUSPENDED = "SUSPENDED"
    BANNED = "BANNED"
    SELF_EXCLUDED = "SELF_EXCLUDED"
    DEACTIVATED = "DEACTIVATED"
    PENDING = "PENDING"
    LOCKED = "LOCKED"
    APPROVED = "APPROVED"


class Gender(models.TextChoices):
    MALE = "MALE"
    FEMALE = "FEMALE"
    F = "F"
    M = "M"
    UNKNOWN = "UNKNOWN"


class Player(LabelScopedModel):
    """An end user of the operator (never a Django user), unique by brand and `user_ext_id`.

    Field names are those of the reference users view; operators' systems already send them.
    Email and phone are encrypted; `*_digest` columns find a player by them without decrypting.
    """

    brand = models.ForeignKey("backoffice.Brand", on_delete=models.PROTECT, related_name="players")
    user_ext_id = models.CharField(max_length=128, help_text="The operator's unique id of the user.")
    dt_update = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the operator last changed the profile (UTC): the newest stamp of an update applied.",
    )
    profile_stamps = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="Field name (custom properties as custom.<name>) to the dt_update of the update that last set it "
        "(ISO 8601, UTC). A field changes only for an update stamped at or after its own stamp, so sources that each "
        "carry some fields (several users views, the API) never undo each other. '*': the stamp of fields without "
        "one of their own (the profile's dt_update when per-field stamps began; null if none).",
    )
    core_account_status = models.CharField(
        max_length=16,
        choices=AccountStatus.choices,
        default=AccountStatus.ACTIVE,
        help_text="Account status in the operator's system; only ACTIVE accounts receive marketing.",
    )
    core_registration_date = models.DateTimeField(null=True, blank=True, help_text="Registration time (UTC, past).")
    core_user_language = models.CharField(max_length=2, blank=True, help_text="ISO 639-1 language, e.g. EN.")
    core_wallet_currency = models.CharField(
        max_length=3, blank=True, help_text="ISO 4217 wallet currency, e.g. EUR. Cannot change once set."
    )
    core_username = models.CharField(max_length=255, blank=True, help_text="Username or nickname.")
    user_birthdate = models.DateTimeField(null=True, blank=True, help_text="Birth date (UTC, past).")
    user_country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 country, e.g. MT.")
    user_email = EncryptedTextField(null=True, blank=True, help_text="Email address (encrypted at rest).")
    user_email_digest = models.CharField(max_length=64, null=True, blank=True, editable=False, db_index=True)  # noqa: DJ001 - NULL: no email
    user_first_name = models.CharField(max_length=255, blank=True)
    user_last_name = models.CharField(max_length=255, blank=True)
    user_phone = EncryptedTextField(null=True, blank=True, help_text="Phone number (encrypted at rest).")
    user_phone_digest = models.CharField(max_length=64, null=True, blank=True, editable=False, db_index=True)  # noqa: DJ001
    core_affiliate_id = models.BigIntegerField(null=True, blank=True, help_text="Numeric affiliate id.")
    core_affiliate_str = models.CharField(max_length=255, blank=True, help_text="Affiliate id when not numeric.")
    core_is_email_disabled_by_platform = models.BooleanField(
        default=False, help_text="The player opted out of email on the operator's side."
    )
    core_is_sms_disabled_by_platform = models.BooleanField(
        default=False, help_text="The player opted out of SMS on the operator's side."
    )
    core_user_gender = models.CharField(max_length=8, choices=Gender.choices, blank=True)
    core_kyc_status = models.CharField(max_length=64, blank=True, help_text="KYC status in the operator's system.")
    custom = models.JSONField(default=dict, blank=True, help_text="Custom properties: name to scalar value.")
    ach_gamification_in_control_group = models.BooleanField(
        default=False,
        editable=False,
        help_text="Drawn once, when the player is created, by the label's control-group percentage: players in the "
        "control group earn nothing and see no gamification.",
    )
    markers = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        help_text="Public tags, visible on the front end.",
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "user_ext_id"], name="player_unique_per_brand"),
        ]
        indexes = [
            models.Index(fields=["label", "-id"], name="player_label_id_idx"),
            models.Index(fields=["label", "core_registration_date"], name="player_label_regdate_idx"),
            models.Index(fields=["label", "dt_update"], name="player_label_dtupdate_idx"),
            GinIndex(fields=["markers"], name="player_markers_gin"),
            # Username prefix search (admin, API `q`): matches Django's UPPER("core_username"::text) LIKE 'AB%'.
            models.Index(
                F("label"),
                OpClass(Upper(Cast("core_username", models.TextField())), name="text_pattern_ops"),
                name="player_label_username_prefix",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_ext_id} @ {self.brand.ext_brand_id}" if self.brand_id else self.user_ext_id
