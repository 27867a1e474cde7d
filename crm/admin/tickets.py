"""Support tickets in the admin: the queues (by status and assignee, overdue highlighted), a ticket's page (assignment,
status, SLA due date, escalation, the comment thread and the history of every change), agents, contacts, SLA
policies, and the player's tickets on the player page.

Working tickets (changing, assigning, escalating, commenting) is a player action (Perm.PLAYER_ACT: support included);
SLA policies and agents' staff links are configuration (Perm.CONFIG_CHANGE). Every change goes through
crm/services/tickets.py, so it bumps the version and is written to the history; the form carries the version it
showed, and a save over someone else's newer change is refused with the form error, not applied.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge
from backoffice.crypto import lookup_digest, normalize_email
from backoffice.errors import DomainError
from backoffice.models import Label, Perm
from crm.admin.player_pages import PlayerPanel, player_panel_register
from crm.models import (
    Escalation,
    Player,
    Ticket,
    TicketAgent,
    TicketComment,
    TicketContact,
    TicketHistory,
    TicketSlaPolicy,
)
from crm.services import tickets as services

RECENT = 10
EDITABLE = (
    "ticket_name",
    "status",
    "priority",
    "type",
    "assignee",
    "due_date",
    "escalation",
    "player",
    "custom_fields",
)


def status_badge(ticket: Ticket) -> str:
    if ticket.deleted_at:
        return badge("deleted", "")
    return badge(ticket.status, "success" if ticket.is_closed else "info")


def due_badge(ticket: Ticket, now) -> str:
    """The due date; red and marked 'overdue' when an open ticket is past it."""
    if ticket.due_date is None:
        return "-"
    when = timezone.localtime(ticket.due_date).strftime("%Y-%m-%d %H:%M")
    if ticket.is_overdue(now):
        return format_html(
            '<span class="text-red-600 font-semibold" data-testid="overdue">{} {}</span>',
            when,
            badge("overdue", "danger"),
        )
    return when


# --- filters ---------------------------------------------------------------------------------------------------------
QUEUES = {
    "open": "Open",
    "overdue": "Overdue",
    "escalated": "Escalated",
    "unassigned": "Unassigned",
    "mine": "Assigned to me",
    "closed": "Closed",
    "deleted": "Deleted",
}


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return list(QUEUES.items())

    def queryset(self, request, queryset):
        return queue_filter(queryset, self.value(), request.user)


def queue_filter(queryset, queue: str | None, user):
    if queue == "deleted":
        return queryset.exclude(deleted_at=None)
    queryset = queryset.filter(deleted_at=None)
    now = timezone.now()
    return {
        "open": lambda: queryset.filter(is_closed=False),
        "overdue": lambda: queryset.filter(is_closed=False, due_date__lt=now),
        "escalated": lambda: queryset.filter(is_closed=False, escalation=Escalation.ESCALATED),
        "unassigned": lambda: queryset.filter(is_closed=False, assignee=None),
        "mine": lambda: queryset.filter(is_closed=False, assignee__staff_user=user),
        "closed": lambda: queryset.filter(is_closed=True),
    }.get(queue or "", lambda: queryset)()


class StatusFilter(admin.SimpleListFilter):
    """The statuses the partner uses, compared case-insensitively ("Open" and "open" are one queue)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        rows = model_admin.get_queryset(request).filter(deleted_at=None).values_list("status", flat=True).distinct()
        return sorted({(s.lower(), s.lower()) for s in rows[:200]})

    def queryset(self, request, queryset):
        return queryset.filter(status__iexact=self.value()) if self.value() else queryset


class PlayerIdFilter(admin.SimpleListFilter):
    """Hidden filter behind the player page's "All tickets" link."""

    title = "player"
    parameter_name = "player"

    def lookups(self, request, model_admin):
        return []

    def has_output(self) -> bool:
        return False

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(player_id=value) if value and value.isdigit() else queryset


# --- tickets ---------------------------------------------------------------------------------------------------------
class TicketForm(forms.ModelForm):
    version_seen = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Ticket
        fields = ["label", "app_id", "visible_id", *EDITABLE]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["version_seen"].initial = self.instance.version

    def clean(self):
        data = super().clean()
        label = data.get("label") or (self.instance.label if self.instance.pk else None)
        for name in ("assignee", "player"):
            row = data.get(name)
            if row is not None and label is not None and row.label_id != label.pk:
                self.add_error(name, "Not of the ticket's label.")
        seen = data.get("version_seen")
        if self.instance.pk and seen is not None and seen != Ticket.objects.get(pk=self.instance.pk).version:
            raise forms.ValidationError(
                "Someone changed this ticket since you opened it: reload the page to see their change, then redo yours."
            )
        return data


@admin.register(Ticket)
class TicketAdmin(LabelScopedAdmin):
    form = TicketForm
    add_perm = change_perm = Perm.PLAYER_ACT
    scoped_foreign_keys = {"label": Label, "assignee": TicketAgent, "player": Player}
    list_display = (
        "ticket_display", "status_display", "priority", "assignee", "due_display", "escalation_display",
        "account_display", "player_link", "updated_at",
    )  # fmt: skip
    list_select_related = ("label", "assignee", "account", "player__brand")
    list_filter = (
        QueueFilter,
        StatusFilter,
        ("assignee", ScopedRelatedFilter),
        ("escalation", ChoicesDropdownFilter),
        ("label", ScopedRelatedFilter),
        PlayerIdFilter,
    )
    list_filter_submit = True
    list_per_page = 50
    search_fields = ("=visible_id", "ticket_name")
    search_help_text = "Exact visible id, or words of the name"
    list_before_template = "admin/crm/ticket/queues.html"
    change_form_before_template = "admin/crm/ticket/banner.html"  # the overdue banner, above the form
    change_form_outer_after_template = "admin/crm/ticket/thread.html"  # outside the form: the thread has its own
    show_facets = admin.ShowFacets.NEVER
    raw_id_fields = ("player",)
    actions = ["escalate", "deescalate", "assign_to_me"]
    ordering = ("-created_at",)
    readonly_fields = ("ticket_id", "version", "account", "created_by", "created_by_type", "created_at",
                       "updated_at", "escalated_at", "closed_at")  # fmt: skip

    def get_fieldsets(self, request, obj=None):
        work = ("status", "priority", "type", "assignee", "due_date", "escalation", "version_seen")
        if obj is None:
            return ((None, {"fields": ("label", "app_id", "visible_id", "ticket_name", "player", *work)}),)
        return (
            (None, {"fields": (("ticket_name", "visible_id"), ("player", "account"), "custom_fields")}),
            ("Work", {"fields": work}),
            (
                "Record",
                {
                    "fields": (
                        ("ticket_id", "version"),
                        ("created_by", "created_by_type"),
                        ("created_at", "updated_at"),
                        ("escalated_at", "closed_at"),
                    )
                },
            ),
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields += ["visible_id", "label", "app_id"]
            if obj.deleted_at or not self.has_change_permission(request, obj):
                fields += list(EDITABLE)
        return fields

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("status", "Open")
        return initial

    # --- columns -------------------------------------------------------------------------------------------------
    @display(description="Ticket", ordering="created_at")
    def ticket_display(self, obj) -> str:
        ref = obj.visible_id or str(obj.ticket_id)[:8]
        return format_html("<strong>{}</strong> {}", ref, obj.ticket_name)

    @display(description="Status", ordering="status")
    def status_display(self, obj) -> str:
        return status_badge(obj)

    @display(description="Due", ordering="due_date")
    def due_display(self, obj) -> str:
        return due_badge(obj, timezone.now())

    @display(description="Escalation", ordering="escalation")
    def escalation_display(self, obj) -> str:
        return badge("escalated", "danger") if obj.is_escalated else "-"

    @display(description="Account")
    def account_display(self, obj) -> str:
        return str(obj.account) if obj.account_id else "-"

    @display(description="Player")
    def player_link(self, obj) -> str:
        if obj.player_id is None:
            return "-"
        url = reverse("admin:crm_player_change", args=[obj.player_id])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, obj.player)

    # --- queues --------------------------------------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        live = self.get_queryset(request).filter(deleted_at=None)
        now = timezone.now()
        counts = live.aggregate(
            open=Count("id", filter=Q(is_closed=False)),
            overdue=Count("id", filter=Q(is_closed=False, due_date__lt=now)),
            escalated=Count("id", filter=Q(is_closed=False, escalation=Escalation.ESCALATED)),
            unassigned=Count("id", filter=Q(is_closed=False, assignee=None)),
            mine=Count("id", filter=Q(is_closed=False, assignee__staff_user=request.user)),
            closed=Count("id", filter=Q(is_closed=True)),
        )
        variants = {"overdue": "danger", "escalated": "warning", "unassigned": "info", "closed": "success"}
        base = reverse("admin:crm_ticket_changelist")
        queues = [(QUEUES[q], n, variants.get(q, "primary"), f"{base}?queue={q}") for q, n in counts.items()]
        by_agent = (
            live.filter(is_closed=False)
            .values("assignee_id", "assignee__first_name", "assignee__last_name")
            .annotate(n=Count("id"), late=Count("id", filter=Q(due_date__lt=now)))
            .order_by("-n")[:12]
        )
        agents = [_agent_queue(row, base) for row in by_agent]
        context = {**(extra_context or {}), "ticket_queues": queues, "ticket_agents": agents}
        return super().changelist_view(request, context)

    # --- writes through the service ------------------------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in EDITABLE if name in form.changed_data}
        who = services.Who.staff(request.user)
        try:
            if not change:
                data.update(
                    app_id=form.cleaned_data.get("app_id", ""), visible_id=form.cleaned_data.get("visible_id", "")
                )
                data = {k: v for k, v in data.items() if v is not None and v != ""}
                data.setdefault("status", form.cleaned_data.get("status") or "Open")
                created = services.ticket_create(label_id=obj.label_id, data=data, who=who)
                obj.pk, obj.ticket_id = created.pk, created.ticket_id
                return
            services.ticket_update(
                label_id=obj.label_id,
                ticket_id=obj.ticket_id,
                data=data,
                who=who,
                expected_version=form.cleaned_data.get("version_seen"),
            )
        except DomainError as exc:
            messages.error(request, exc.message)

    def log_addition(self, request, obj, message):
        return None  # the ticket's own history records it

    def log_change(self, request, obj, message):
        return None

    # --- bulk actions --------------------------------------------------------------------------------------------
    def has_escalate_permission(self, request) -> bool:
        return self.actor(request).can_anywhere(Perm.PLAYER_ACT)

    has_deescalate_permission = has_assign_to_me_permission = has_escalate_permission

    def _bulk(self, request, queryset, values_for) -> int:
        done = 0
        who = services.Who.staff(request.user)
        for ticket in queryset.filter(deleted_at=None):
            if not self.actor(request).can(Perm.PLAYER_ACT, ticket.label_id):
                continue
            values = values_for(ticket)
            if values is None:
                continue
            services.ticket_update(label_id=ticket.label_id, ticket_id=ticket.ticket_id, data=values, who=who)
            done += 1
        return done

    @action(description="Escalate", permissions=["escalate"], icon="priority_high")
    def escalate(self, request, queryset):
        n = self._bulk(request, queryset, lambda t: {"escalation": Escalation.ESCALATED})
        messages.success(request, f"{n} ticket(s) escalated.")

    @action(description="Remove escalation", permissions=["deescalate"], icon="low_priority")
    def deescalate(self, request, queryset):
        n = self._bulk(request, queryset, lambda t: {"escalation": Escalation.NOT_ESCALATED})
        messages.success(request, f"{n} ticket(s) de-escalated.")

    @action(description="Assign to me", permissions=["assign_to_me"], icon="person_add")
    def assign_to_me(self, request, queryset):
        agents = {a.label_id: a for a in TicketAgent.objects.filter(staff_user=request.user)}
        n = self._bulk(request, queryset, lambda t: {"assignee": agents[t.label_id]} if t.label_id in agents else None)
        if n:
            messages.success(request, f"{n} ticket(s) assigned to you.")
        else:
            messages.warning(request, "You are not linked to an agent of these tickets' labels (Tickets → Agents).")

    # --- the thread ----------------------------------------------------------------------------------------------
    def get_urls(self):
        urls = super().get_urls()
        mine = [
            path("<path:object_id>/comment/", self.admin_site.admin_view(self.comment_view), name="crm_ticket_comment")
        ]
        return mine + urls

    def comment_view(self, request, object_id):
        ticket = self.get_object(request, object_id)
        if ticket is None:
            raise Http404("No ticket with this id.")
        back = reverse("admin:crm_ticket_change", args=[ticket.pk])
        if request.method != "POST":
            return HttpResponseRedirect(back)
        if not self.has_change_permission(request, ticket) or ticket.deleted_at:
            raise PermissionDenied
        text = (request.POST.get("description") or "").strip()
        if not text or len(text) > 20000 or "\x00" in text:
            messages.error(request, "Write a comment (at most 20,000 characters).")
        else:
            services.comment_create(
                label_id=ticket.label_id, ticket_id=ticket.ticket_id, description=text,
                who=services.Who.staff(request.user),
            )  # fmt: skip
            messages.success(request, "Comment added.")
        return HttpResponseRedirect(back)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            comments = TicketComment.objects.filter(ticket=obj).select_related("staff_user")
            context["ticket_thread"] = {
                "comments": comments.order_by("created_at", "id"),
                "history": TicketHistory.objects.filter(ticket=obj).order_by("-created_at", "-id"),
                "can_comment": self.has_change_permission(request, obj) and not obj.deleted_at,
                "comment_url": reverse("admin:crm_ticket_comment", args=[obj.pk]),
                "overdue": obj.is_overdue(timezone.now()),
            }  # fmt: skip
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


def _agent_queue(row: dict, base: str) -> tuple:
    """(name, open tickets, overdue ones, the queue's URL) of one assignee, or of the unassigned tickets."""
    if row["assignee_id"] is None:
        return ("Unassigned", row["n"], row["late"], f"{base}?queue=unassigned")
    name = f"{row['assignee__first_name']} {row['assignee__last_name']}".strip()
    return (name, row["n"], row["late"], f"{base}?queue=open&assignee__id__exact={row['assignee_id']}")


# --- agents, contacts, SLA policies ----------------------------------------------------------------------------------
class AgentForm(forms.ModelForm):
    class Meta:
        model = TicketAgent
        fields = ["staff_user"]


@admin.register(TicketAgent)
class TicketAgentAdmin(LabelScopedAdmin):
    """Agents come from the partner (POST /v4/agents); here a manager links one to the staff user who works as it."""

    form = AgentForm
    change_perm = Perm.CONFIG_CHANGE
    list_display = ("__str__", "email", "customer_agent_id", "staff_user", "open_tickets", "label")
    list_filter = (("label", ScopedRelatedFilter),)
    search_fields = ("first_name", "last_name", "=customer_agent_id")
    readonly_fields = ("agent_id", "first_name", "last_name", "email", "customer_agent_id", "app_id", "label")
    fields = ("label", "agent_id", ("first_name", "last_name"), "email", "customer_agent_id", "app_id", "staff_user")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(open_count=Count("tickets", filter=Q(tickets__is_closed=False, tickets__deleted_at=None)))
            .select_related("label", "staff_user")
        )

    @display(description="Open tickets", ordering="open_count")
    def open_tickets(self, obj) -> int:
        return obj.open_count

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "staff_user":
            # Who may work as the agent: the staff of the agent's own label, not of every label the manager runs.
            agent = getattr(request, "_pitboss_admin_obj", None)
            labels = [agent.label_id] if agent is not None else self.actor(request).labels_with(Perm.CONFIG_CHANGE)
            users = get_user_model().objects.filter(label_roles__label_id__in=labels).distinct().order_by("username")
            kwargs["queryset"] = users
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(TicketContact)
class TicketContactAdmin(LabelScopedAdmin):
    """Contacts come from the partner (POST /v4/contacts): read-only here."""

    list_display = ("__str__", "email", "role", "account", "customer_contact_id", "status", "label")
    list_select_related = ("account", "label")
    list_filter = (("label", ScopedRelatedFilter),)
    search_fields = ("first_name", "last_name", "=customer_contact_id", "=salesforce_id")
    search_help_text = "Name, exact customer contact id, Salesforce id, or exact email"
    fields = ("label", "contact_id", ("first_name", "last_name"), "email", "phone_number", "role", "account",
              "customer_contact_id", "salesforce_id", "status", "is_champion", "app_id")  # fmt: skip
    readonly_fields = ("label", "contact_id", "first_name", "last_name", "email", "phone_number", "role", "account",
                       "customer_contact_id", "salesforce_id", "status", "is_champion", "app_id")  # fmt: skip

    def get_search_results(self, request, queryset, search_term):
        if "@" in search_term:
            return queryset.filter(email_digest=lookup_digest(normalize_email(search_term))), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(TicketSlaPolicy)
class TicketSlaPolicyAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    list_display = ("priority", "resolve_within_hours", "label")
    list_filter = (("label", ScopedRelatedFilter),)
    fields = ("label", "priority", "resolve_within_hours")


# --- the player page -------------------------------------------------------------------------------------------------
def tickets_panel(request, player: Player) -> dict:
    """The player's latest tickets under the profile, open ones first."""
    now = timezone.now()
    tickets = (
        Ticket.objects.filter(player_id=player.pk, deleted_at=None)
        .select_related("assignee")
        .order_by("is_closed", "-created_at")[:RECENT]
    )
    rows = [
        [
            format_html(
                '<a class="text-primary-600" href="{}">{}</a>',
                reverse("admin:crm_ticket_change", args=[t.pk]),
                t.visible_id or t.ticket_name or str(t.ticket_id)[:8],
            ),
            t.ticket_name,
            status_badge(t),
            str(t.assignee) if t.assignee_id else "-",
            due_badge(t, now),
        ]
        for t in tickets
    ]
    add_url = f"{reverse('admin:crm_ticket_add')}?label={player.label_id}&player={player.pk}"
    return {
        "player": player,
        "can_act": LabelScopedAdmin.actor(request).can(Perm.PLAYER_ACT, player.label_id),
        "table": {"headers": ["Ticket", "Name", "Status", "Assignee", "Due"], "rows": rows},
        "list_url": f"{reverse('admin:crm_ticket_changelist')}?player={player.pk}",
        "add_url": add_url,
    }


player_panel_register(PlayerPanel(template="admin/crm/player/tickets_panel.html", context=tickets_panel, order=30))
