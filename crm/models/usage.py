"""Usage analytics: the apps, users, devices and sessions SmartKarrot-compatible clients report
(docs/usage-analytics.md).

The events themselves go to the one event log (crm.Event, types usage_event, app_session_start, app_session_end,
page_load_event); these tables hold what is not an event: who the app's users are and which player each one is, their
latest attributes, their devices (with push tokens, encrypted), their sessions, and the answers already given to an
`idempotencyId`.
"""

from __future__ import annotations

from django.db import models

from backoffice.models.base import LabelScopedModel, LabelScopedQuerySet


class UsagePlatform(models.TextChoices):
    IOS = "iOS", "iOS"
    ANDROID = "Android", "Android"
    WEB = "Web", "Web"


class UsageUserKind(models.TextChoices):
    """SmartKarrot's `loginMechanism`: AUTH for a user of the operator (a player), GUEST for an app-made id."""

    AUTHENTICATED = "AUTH", "Authenticated"
    GUEST = "GUEST", "Guest"


class UsageUserStatus(models.TextChoices):
    ACTIVE = "Active", "Active"
    INACTIVE = "Inactive", "Inactive"


class UsageApp(LabelScopedModel):
    """A SmartKarrot app (`appId`) of the label, mapped to the brand whose players use it.

    Events need a brand: an authenticated user `userId` of this app is the player (brand, user_ext_id=userId).
    """

    app_id = models.CharField(max_length=128, help_text="SmartKarrot's app id (appId).")
    name = models.CharField(max_length=255, blank=True, help_text="A name staff recognise, e.g. iOS casino app.")
    brand = models.ForeignKey(
        "backoffice.Brand", on_delete=models.PROTECT, related_name="+", help_text="The brand whose players use it."
    )

    class Meta:
        ordering = ["label", "app_id"]
        constraints = [models.UniqueConstraint(fields=["label", "app_id"], name="usage_app_unique_id")]

    def __str__(self) -> str:
        return self.name or self.app_id


class UsageUser(LabelScopedModel):
    """A user of an app: authenticated (a player of the app's brand, `player`) or a guest (no player; its events are
    held until it logs in, then moved to the player, as SmartKarrot moves a guest's events to the logged-in user)."""

    app = models.ForeignKey(UsageApp, on_delete=models.PROTECT, related_name="users")
    user_id = models.CharField(max_length=128, help_text="SmartKarrot's userId: the player's id, or a guest's UUID.")
    kind = models.CharField(max_length=8, choices=UsageUserKind.choices, default=UsageUserKind.AUTHENTICATED)
    status = models.CharField(max_length=8, choices=UsageUserStatus.choices, default=UsageUserStatus.ACTIVE)
    player = models.ForeignKey(
        "crm.Player", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_users",
        help_text="The player this user is (authenticated users).",
    )  # fmt: skip
    customer_account = models.ForeignKey(
        "crm.CustomerAccount", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_users"
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="guests",
        help_text="A guest who logged in: the authenticated user its events moved to.",
    )  # fmt: skip
    platform = models.CharField(max_length=8, choices=UsagePlatform.choices, blank=True)
    bundle_id = models.CharField(max_length=255, blank=True, help_text="Android package, iOS bundle id or web domain.")
    last_session_id = models.CharField(max_length=255, blank=True)
    last_device_id = models.CharField(max_length=255, blank=True)
    attributes = models.JSONField(
        default=dict, blank=True,
        help_text="Latest user attributes: name -> {dataType, value, loggedAtTime}.",
    )  # fmt: skip
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="When the app last reported this user.")

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["app", "user_id"], name="usage_user_unique_id")]
        indexes = [models.Index(fields=["label", "-last_seen_at"], name="usage_user_label_seen")]

    def __str__(self) -> str:
        return self.user_id


class UsageDevice(LabelScopedModel):
    """A device of a user, with its attributes and its push token (encrypted; staff see its last characters)."""

    user = models.ForeignKey(UsageUser, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=255, blank=True, help_text="The app's device id ('' when none was sent).")
    platform = models.CharField(max_length=8, choices=UsagePlatform.choices, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Device attributes: name -> text.")
    token = models.TextField(blank=True, editable=False, help_text="The push token, encrypted.")
    token_hint = models.CharField(max_length=16, blank=True, editable=False, help_text="The token's last characters.")
    token_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    app_in_distribution = models.BooleanField(null=True, blank=True, help_text="iOS: distribution (not sandbox) APNs.")

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["user", "device_id"], name="usage_device_unique_id")]

    def __str__(self) -> str:
        return self.device_id or "(no device id)"

    @property
    def token_masked(self) -> str:
        return f"••••{self.token_hint}" if self.token else ""


class UsageSession(LabelScopedModel):
    """An app session, from its app_session_start and app_session_end events (either may come first, or alone)."""

    user = models.ForeignKey(UsageUser, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.CharField(max_length=255)
    device_id = models.CharField(max_length=255, blank=True)
    platform = models.CharField(max_length=8, choices=UsagePlatform.choices, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "session_id"], name="usage_session_unique_id")]

    def __str__(self) -> str:
        return self.session_id

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max((self.ended_at - self.started_at).total_seconds(), 0.0)


class UsageGuestEvent(models.Model):
    """An event of a guest, held outside the log (a guest is no player) until the guest logs in: then it is ingested
    for the player, with the same event id, and removed from here."""

    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(UsageUser, on_delete=models.CASCADE, related_name="held_events")
    event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "type", "event_id"], name="usage_guest_event_unique_id")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class UsageRequest(models.Model):
    """The answer given to an `idempotencyId` on one endpoint: a replay with the same body gets it again, unchanged.

    The row is claimed (INSERT … ON CONFLICT DO NOTHING) in the transaction that does the work, so a concurrent replay
    waits for that transaction and then answers from it.
    """

    label = models.ForeignKey("backoffice.Label", on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=32)
    idempotency_id = models.CharField(max_length=128)
    digest = models.CharField(max_length=64, help_text="Digest of the request's body.")
    status_code = models.PositiveSmallIntegerField(default=200)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["label", "endpoint", "idempotency_id"], name="usage_request_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.idempotency_id}"
