"""Demo support tickets for `make run` (backoffice/management/commands/demo.py): agents (demo_support works as
one), contacts at two customer accounts, SLA policies, and tickets in every queue, some linked to players, with
comments and a history. Safe to run again: people are upserted, tickets made only while the label has none."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from backoffice.models import Label
from crm.models import Player, Ticket, TicketAgent, TicketSlaPolicy
from crm.services.tickets import Who, agents_upsert, comment_create, contacts_upsert, ticket_create, ticket_update

APP = "demo-app"
AGENTS = (("sam@pitboss.example", "Sam", "Support", "AG-1"), ("lee@pitboss.example", "Lee", "Payments", "AG-2"))
CONTACTS = (
    ("anne@acme.example", "Anne", "Rodriguez", "VP Customer Success", "acme"),
    ("arturo@globex.example", "Arturo", "Rains", "CS Head", "globex"),
)
# name, priority, status, type, due in hours (negative: overdue), escalated, agent index, player index
TICKETS = (
    ("Withdrawal pending for 3 days", "High", "Open", "payments", -20, True, 1, 0),
    ("Bonus not credited after deposit", "Medium", "Open", "bonus", 30, False, 0, 1),
    ("Cannot log in on mobile", "Low", "Pending", "account", 70, False, None, 2),
    ("Self-exclusion request", "Urgent", "Open", "responsible gaming", -2, True, None, 3),
    ("Free spins expired early", "Medium", "Resolved", "bonus", -48, False, 0, 4),
    ("KYC documents rejected", "High", "Open", "kyc", 5, False, 1, None),
)


def tickets_demo(label: Label, support_user=None) -> dict[str, int]:
    """Demo tickets of `label`; `support_user` is linked to the first agent ("Assigned to me")."""
    who = Who("api key demo")
    agents = agents_upsert(
        label_id=label.pk,
        rows=[{"email": e, "first_name": f, "last_name": ln, "customer_agent_id": c, "app_id": APP}
              for e, f, ln, c in AGENTS],
    )  # fmt: skip
    agents = sorted(agents, key=lambda a: a.customer_agent_id)
    if support_user is not None:
        TicketAgent.objects.filter(pk=agents[0].pk).update(staff_user=support_user)
    contacts_upsert(
        label_id=label.pk,
        rows=[{"email": e, "first_name": f, "last_name": ln, "role": r, "account_id": a, "app_id": APP}
              for e, f, ln, r, a in CONTACTS],
    )  # fmt: skip
    for priority, hours in (("urgent", 4), ("high", 24), ("medium", 72), ("low", 120)):
        TicketSlaPolicy.objects.get_or_create(label=label, priority=priority, defaults={"resolve_within_hours": hours})
    if not Ticket.objects.filter(label=label).exists():
        _tickets(label, agents, who)
    return {"tickets": Ticket.objects.filter(label=label).count(), "agents": len(agents), "contacts": len(CONTACTS)}


def _tickets(label: Label, agents: list, who: Who) -> None:
    players = list(Player.objects.filter(label=label).order_by("id")[:5])
    now = timezone.now()
    for n, (name, priority, status, kind, hours, escalated, agent, player) in enumerate(TICKETS, start=1):
        ticket = ticket_create(
            label_id=label.pk,
            data={
                "app_id": APP, "visible_id": f"T-{1000 + n}", "ticket_name": name, "priority": priority,
                "status": "Open", "type": kind, "due_date": now + timedelta(hours=hours),
                "account_id": "acme" if n % 2 else "globex", "created_by_type": "contact", "created_by": "anne",
                "player": players[player] if player is not None and player < len(players) else None,
            },
            who=who,
        )  # fmt: skip
        comment_create(
            label_id=label.pk, ticket_id=ticket.ticket_id, description=f"Player wrote in about: {name.lower()}.",
            who=who, created_by_type="contact", created_by="anne",
        )  # fmt: skip
        changes = {"status": status, "escalation": "escalated" if escalated else "notEscalated"}
        if agent is not None:
            changes["assignee"] = str(agents[agent].agent_id)
        ticket_update(label_id=label.pk, ticket_id=ticket.ticket_id, data=changes, who=who)
