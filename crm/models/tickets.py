"""Support tickets (SmartKarrot's case management): contacts, agents, tickets, comments and each ticket's history.

A ticket is raised by a contact (someone at the customer account) or an agent, assigned to an agent, and may be linked
to a player. Partners write them through the SmartKarrot-compatible endpoints (integrations/smartkarrot/tickets/) or
Pitboss's own API; support staff work them in the admin. Every change of a ticket or its comments is one
`TicketHistory` row, written by the service in the transaction that makes the change.

The partner's public ids (`contact_id`, `agent_id`, `ticket_id`, `comment_id`) are UUIDs minted by Pitboss, as
SmartKarrot mints them; the partner's own ids are `customer_contact_id`, `customer_agent_id` and `visible_id`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from backoffice.fields import EncryptedTextField
from backoffice.models.base import LabelScopedModel

# Statuses (compared case-insensitively) that take a ticket out of the working queues: no SLA clock, never overdue.
CLOSED_STATUSES = frozenset({"closed", "resolved", "done", "cancelled", "canceled", "solved"})


class CreatorType(models.TextChoices):
    AGENT = "agent", "Agent"
    CONTACT = "contact", "Contact"


class Escalation(models.TextChoices):
    ESCALATED = "escalated", "Escalated"
    NOT_ESCALATED = "notEscalated", "Not escalated"


class PersonFields(LabelScopedModel):
    """What contacts and agents share: a name, an email unique per label (encrypted, found by its digest), a phone."""

    app_id = models.CharField(max_length=128, blank=True, help_text="The partner's app id it was written through.")
    first_name = models.CharField(max_length=255, help_text="First name.")
    last_name = models.CharField(max_length=255, blank=True, help_text="Last name.")
    email = EncryptedTextField(help_text="Email address (encrypted at rest; unique per label).")
    email_digest = models.CharField(max_length=64, editable=False, help_text="Keyed digest of the lower-cased email.")
    country_code = models.CharField(max_length=16, blank=True, help_text="Country code of the phone number.")
    phone_number = EncryptedTextField(null=True, blank=True, help_text="Phone number (encrypted at rest).")
    uploaded_image_url = models.CharField(max_length=2048, blank=True, help_text="Profile image URL.")

    class Meta:
        abstract = True

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class TicketContact(PersonFields):
    """A person at a customer account who raises tickets (SmartKarrot's contact)."""

    contact_id = models.UUIDField(default=uuid.uuid4, editable=False, help_text="Pitboss's public id (contactId).")
    account = models.ForeignKey(
        "crm.CustomerAccount", null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    customer_contact_id = models.CharField(max_length=128, blank=True, help_text="The partner's id of the contact.")
    salesforce_id = models.CharField(max_length=128, blank=True, help_text="The contact's Salesforce id.")
    role = models.CharField(max_length=255, blank=True, help_text="Role or position.")
    status = models.CharField(max_length=32, default="active", help_text="active or inactive.")
    display_suggestion = models.BooleanField(default=True, help_text="Suggested in the partner's UI.")
    is_champion = models.BooleanField(default=False, help_text="A champion of the product at the account.")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "email_digest"], name="ticket_contact_unique_email"),
            models.UniqueConstraint(fields=["label", "contact_id"], name="ticket_contact_unique_id"),
        ]
        indexes = [
            models.Index(fields=["label", "app_id", "created_at", "id"], name="ticket_contact_page"),
            models.Index(fields=["label", "salesforce_id"], name="ticket_contact_sfid"),
        ]

    def __str__(self) -> str:
        return self.full_name or str(self.contact_id)


class TicketAgent(PersonFields):
    """A support agent tickets are assigned to; optionally the Pitboss staff user who works as that agent."""

    agent_id = models.UUIDField(default=uuid.uuid4, editable=False, help_text="Pitboss's public id (agentId).")
    customer_agent_id = models.CharField(max_length=128, blank=True, help_text="The partner's id of the agent.")
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff user who works as this agent in the admin ('Assigned to me').",
    )

    class Meta:
        ordering = ["first_name", "last_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "email_digest"], name="ticket_agent_unique_email"),
            models.UniqueConstraint(fields=["label", "agent_id"], name="ticket_agent_unique_id"),
        ]

    def __str__(self) -> str:
        return self.full_name or str(self.agent_id)


class TicketSlaPolicy(LabelScopedModel):
    """How long a ticket of a priority may stay open: a ticket created without a due date gets one from this."""

    priority = models.CharField(max_length=64, help_text="The priority it applies to (compared case-insensitively).")
    resolve_within_hours = models.PositiveIntegerField(help_text="Hours from creation to the due date.")

    class Meta:
        verbose_name = "ticket SLA policy"
        verbose_name_plural = "ticket SLA policies"
        ordering = ["label", "resolve_within_hours"]
        constraints = [
            models.UniqueConstraint("label", Lower("priority"), name="ticket_sla_unique_priority"),
        ]

    def __str__(self) -> str:
        return f"{self.priority}: {self.resolve_within_hours} h"


class Ticket(LabelScopedModel):
    """A support case. `version` grows by one on every change: a writer that sends the version it read gets 409 if
    someone changed the ticket since (optimistic concurrency). A deleted ticket keeps its row and history."""

    ticket_id = models.UUIDField(default=uuid.uuid4, editable=False, help_text="Pitboss's public id (ticketId).")
    app_id = models.CharField(max_length=128, blank=True, help_text="The partner's app id (appId).")
    visible_id = models.CharField(max_length=128, blank=True, help_text="The client's own ticket id (visibleId).")
    account = models.ForeignKey(
        "crm.CustomerAccount", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    ticket_name = models.CharField(max_length=500, blank=True, help_text="Name of the ticket.")
    created_by = models.CharField(max_length=128, blank=True, help_text="Id of the contact or agent who raised it.")
    created_by_type = models.CharField(max_length=16, blank=True, choices=CreatorType.choices)
    assignee = models.ForeignKey(
        TicketAgent, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets", help_text="Agent."
    )
    due_date = models.DateTimeField(null=True, blank=True, help_text="When it must be resolved (SLA).")
    escalation = models.CharField(max_length=16, choices=Escalation.choices, default=Escalation.NOT_ESCALATED)
    priority = models.CharField(max_length=64, blank=True, help_text="Priority, as the partner names it.")
    status = models.CharField(max_length=64, default="Open", help_text="Status, as the partner names it.")
    is_closed = models.BooleanField(default=False, help_text="The status is a closing one (closed, resolved...).")
    type = models.CharField(max_length=255, blank=True, help_text="Type of the ticket.")
    custom_fields = models.JSONField(default=dict, blank=True, help_text="Other fields, as key/value pairs.")
    player = models.ForeignKey(
        "crm.Player", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets", help_text="Player."
    )
    version = models.PositiveIntegerField(default=1, help_text="Grows by one on every change.")
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="When it was last escalated.")
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it last took a closing status.")
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="When it was deleted (kept for history).")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "ticket_id"], name="ticket_unique_id"),
            models.CheckConstraint(
                condition=models.Q(created_by_type__in=["", *CreatorType.values]), name="ticket_creator_type"
            ),
            models.CheckConstraint(condition=models.Q(escalation__in=Escalation.values), name="ticket_escalation"),
        ]
        indexes = [
            models.Index(fields=["label", "app_id", "created_at", "id"], name="ticket_page"),
            models.Index(fields=["label", "is_closed", "due_date"], name="ticket_queue"),
            models.Index(fields=["assignee", "is_closed"], name="ticket_assignee"),
        ]

    def __str__(self) -> str:
        return self.visible_id or self.ticket_name or str(self.ticket_id)

    @property
    def is_escalated(self) -> bool:
        return self.escalation == Escalation.ESCALATED

    def is_overdue(self, now) -> bool:
        return not self.is_closed and self.deleted_at is None and self.due_date is not None and self.due_date < now


class TicketComment(LabelScopedModel):
    """One message of a ticket's thread, by an agent, a contact or a staff user in the admin."""

    comment_id = models.UUIDField(default=uuid.uuid4, editable=False, help_text="Pitboss's public id (CommentId).")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    description = models.TextField(help_text="The comment's text.")
    created_by = models.CharField(max_length=128, blank=True, help_text="Id of the agent or contact who wrote it.")
    created_by_type = models.CharField(max_length=16, blank=True, choices=CreatorType.choices)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1, help_text="Grows by one on every edit.")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["label", "comment_id"], name="ticket_comment_unique_id")]

    def __str__(self) -> str:
        return f"Comment {self.comment_id}"

    @property
    def author(self) -> str:
        if self.staff_user_id:
            return str(self.staff_user)
        return f"{self.created_by_type or 'unknown'} {self.created_by}".strip()


class TicketHistoryAction(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    DELETED = "deleted", "Deleted"
    COMMENTED = "commented", "Commented"
    COMMENT_EDITED = "comment_edited", "Comment edited"


class TicketHistory(LabelScopedModel):
    """One change of a ticket: who, when, what (`changes`: field -> [before, after]) and the version it made."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="history")
    action = models.CharField(max_length=16, choices=TicketHistoryAction.choices)
    changes = models.JSONField(default=dict, blank=True, help_text="field -> [before, after].")
    version = models.PositiveIntegerField(help_text="The ticket's version after the change.")
    actor = models.CharField(max_length=255, help_text="Who made it: 'api key <name>', 'staff <username>'.")
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "ticket history"
        ordering = ["ticket", "created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="ticket_history_ticket")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} v{self.version}"
