"""SmartKarrot-compatible tickets endpoints: contacts, agents, tickets and comments (reference: "Tickets (Case
Management) Integration"). Every path and form they answer at is in urls.py and docs/tickets.md.

Thin views: validate by hand (validation.py, so a bulk upsert can say why each row was not saved), call a service of
crm/services/tickets.py, answer the reference's objects (representation.py) inside the family's envelope.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from backoffice.crypto import lookup_digest, normalize_email
from backoffice.errors import DomainValidationError, NotFound
from backoffice.scoping import actor_for_label
from crm.models import Ticket, TicketAgent, TicketComment, TicketContact
from crm.selectors import player_get
from crm.services import tickets as services
from integrations.smartkarrot.envelope import SCHEMA_TAG, EnvelopeSerializer, SmartKarrotView, invalid, success
from integrations.smartkarrot.schema import EnvelopeAutoSchema
from integrations.smartkarrot.tickets import representation as out
from integrations.smartkarrot.tickets import schema as docs
from integrations.smartkarrot.tickets import validation as v

MAX_PAGE = 1000
ERRORS = {
    400: OpenApiResponse(EnvelopeSerializer, description="INVALID_INPUT: `errors` names each invalid field."),
    401: OpenApiResponse(EnvelopeSerializer, description="ERROR: no or bad key."),
    404: OpenApiResponse(EnvelopeSerializer, description="ERROR: no such object in your label."),
    409: OpenApiResponse(EnvelopeSerializer, description="ERROR: a version conflict (code version_conflict)."),
    415: OpenApiResponse(EnvelopeSerializer, description="ERROR: send application/json."),
}


def _schema(
    summary: str,
    description: str,
    *,
    status: int = 200,
    params: list | None = None,
    body: bool = True,
    operation_id: str | None = None,
    response=EnvelopeSerializer,
):
    return extend_schema(
        operation_id=operation_id,
        tags=[SCHEMA_TAG],
        summary=summary,
        description=description,
        request=OpenApiTypes.OBJECT if body else None,
        parameters=params or [],
        responses={status: OpenApiResponse(response, description="SUCCESS."), **ERRORS},
    )


def _q(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, required=False, description=description)


class TicketsFamilyView(SmartKarrotView):
    """The family's helpers: the body as an object, query parameters checked like body fields."""

    schema = EnvelopeAutoSchema()

    def who(self) -> services.Who:
        return services.Who(name=f"api key {self.request.auth.name}")

    def body(self) -> dict:
        data = self.request.data
        if not isinstance(data, dict):
            raise DomainValidationError({"body": ["Send a JSON object."]})
        return data

    def query(self, *names: str) -> dict[str, Any]:
        """The given query parameters that are present (the body's checks apply: no NUL, bounded length)."""
        errors: v.Errors = {}
        params = {k: self.request.query_params.get(k) for k in names if k in self.request.query_params}
        clean = {k: v.text(params, k, errors, max_len=2048) for k in params}
        if errors:
            raise DomainValidationError(errors)
        return clean

    def page(self, queryset, params: dict) -> tuple[list, str | None]:
        """A keyset page by (created_at, id): `limit` rows (at most 1,000) after `nextPageToken`."""
        errors: v.Errors = {}
        limit = MAX_PAGE
        if params.get("limit"):
            try:
                limit = int(params["limit"])
            except ValueError:
                limit = 0
            if not 1 <= limit <= MAX_PAGE:
                errors["limit"] = [f"Must be a whole number from 1 to {MAX_PAGE}."]
        if params.get("nextPageToken"):
            position = out.page_position(params["nextPageToken"])
            if position is None:
                errors["nextPageToken"] = ["Not a token this API gave."]
            else:
                at, pk = position
                queryset = queryset.filter(Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk))
        if errors:
            raise DomainValidationError(errors)
        rows = list(queryset.order_by("created_at", "pk")[: limit + 1])
        token = out.page_token(rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit], token

    def player(self, ref: tuple[str, str] | None):
        if ref is None:
            return None
        try:
            return player_get(actor=actor_for_label(self.label_id), ext_brand_id=ref[0], user_ext_id=ref[1])
        except NotFound as exc:
            raise DomainValidationError({"userExtId": ["No such player in your label."]}) from exc


# --- contacts --------------------------------------------------------------------------------------------------------
class ContactsView(TicketsFamilyView):
    @_schema(
        "Get contacts",
        "Contacts of your label, oldest first, `limit` (at most 1,000, the default) per page; pass the answer's "
        "`nextPageToken` for the next page (null on the last). Answers `count`, `contacts`, `nextPageToken`.",
        params=[
            _q("appId", "Your app id: only its contacts."),
            _q("emailId", "An email address (exact, any case)."),
            _q("salesforceId", "A Salesforce contact id."),
            _q("limit", "Contacts per page, 1 to 1,000."),
            _q("nextPageToken", "The previous answer's nextPageToken."),
        ],
        body=False,
        response=docs.ContactPageSerializer,
    )
    def get(self, request, *args, **kwargs):
        params = self.query("appId", "emailId", "salesforceId", "limit", "nextPageToken")
        contacts = TicketContact.objects.for_label(self.label_id).select_related("account")
        if params.get("appId"):
            contacts = contacts.filter(app_id=params["appId"])
        if "emailId" in params:
            contacts = contacts.filter(email_digest=lookup_digest(normalize_email(params["emailId"])) or "-")
        if "salesforceId" in params:
            contacts = contacts.filter(salesforce_id=params["salesforceId"])
        rows, token = self.page(contacts, params)
        return success(count=len(rows), contacts=[out.contact_out(c) for c in rows], nextPageToken=token)

    @_schema(
        "Create or update contacts",
        "Upserts up to 1,000 contacts by email. Answers `Saved Contact count`, `Unsaved Contact count` and "
        "`unsavedContacts` (each as sent, with `reasons`: field -> messages), plus `savedContacts`.",
        response=docs.ContactsSavedSerializer,
    )
    def post(self, request, *args, **kwargs):
        app_id, rows, errors = v.batch(self.body(), "contacts")
        if errors:
            return invalid(errors)
        good, bad = _split(rows, lambda row: v.contact(row, app_id=app_id))
        saved = services.contacts_upsert(label_id=self.label_id, rows=good)
        saved = TicketContact.objects.filter(pk__in=[c.pk for c in saved]).select_related("account")
        defaults = {"status": "active", "displaySuggestion": True, "isChampion": False}
        unsaved = [_unsaved(row, reasons, defaults) for row, reasons in bad]
        return success(
            **{"Saved Contact count": len(good), "Unsaved Contact count": len(bad), "unsavedContacts": unsaved},
            savedContacts=[out.contact_out(c) for c in saved],
        )


def _split(rows: list, check) -> tuple[list[dict], list[tuple[Any, v.Errors]]]:
    good, bad = [], []
    for row in rows:
        clean, errors = check(row)
        if errors:
            bad.append((row, errors))
        else:
            good.append(clean)
    return good, bad


def _unsaved(row: Any, reasons: v.Errors, defaults: dict) -> dict:
    echoed = {**defaults, **row} if isinstance(row, dict) else {"value": row}
    return {**echoed, "allValues": 1, "reasons": reasons}


# --- agents ----------------------------------------------------------------------------------------------------------
class AgentsView(TicketsFamilyView):
    @_schema(
        "Get agents",
        "Agents of your label (a Pitboss addition): `count`, `agents`, `nextPageToken`, paged like contacts.",
        params=[_q("appId", "Your app id."), _q("limit", "1 to 1,000."), _q("nextPageToken", "Next page.")],
        body=False,
        response=docs.AgentPageSerializer,
    )
    def get(self, request, *args, **kwargs):
        params = self.query("appId", "limit", "nextPageToken")
        agents = TicketAgent.objects.for_label(self.label_id)
        if params.get("appId"):
            agents = agents.filter(app_id=params["appId"])
        rows, token = self.page(agents, params)
        return success(count=len(rows), agents=[out.agent_out(a) for a in rows], nextPageToken=token)

    @_schema(
        "Save agents",
        'Upserts up to 1,000 agents by email. Answers `" Saved Agents count: "`, `" Unsaved Agents count: "` (the '
        "reference's keys, spaces included) and `unsavedAgents` (with `reasons`), plus `savedAgents`.",
        response=docs.AgentsSavedSerializer,
    )
    def post(self, request, *args, **kwargs):
        app_id, rows, errors = v.batch(self.body(), "agents")
        if errors:
            return invalid(errors)
        good, bad = _split(rows, lambda row: v.agent(row, app_id=app_id))
        saved = services.agents_upsert(label_id=self.label_id, rows=good)
        return success(
            **{" Saved Agents count: ": len(good), " Unsaved Agents count: ": len(bad)},
            unsavedAgents=[_unsaved(row, reasons, {}) for row, reasons in bad],
            savedAgents=[out.agent_out(a) for a in saved],
        )

    @_schema(
        "Delete an agent",
        "Deletes the agent `id` (its agentId or customerAgentId; in the query, the path or the body). Their tickets "
        "become unassigned. Answers `message: Agent deleted`.",
        params=[_q("id", "The agent's id.")],
    )
    def delete(self, request, *args, agent_ref: str | None = None, **kwargs):
        ref = agent_ref or self.query("id").get("id")
        if not ref and request.body:
            errors: v.Errors = {}
            value = v.text(self.body(), "id", errors, max_len=128, required=True)
            if errors:
                return invalid(errors)
            ref = value
        if not ref:
            return invalid({"id": ["This field is required."]})
        services.agent_delete(label_id=self.label_id, ref=ref, who=self.who())
        return success(message="Agent deleted")


# --- tickets ---------------------------------------------------------------------------------------------------------
def _tickets(label_id: int):
    return (
        Ticket.objects.for_label(label_id)
        .filter(deleted_at=None)
        .select_related("account", "assignee", "player__brand")
    )


class TicketsView(TicketsFamilyView):
    """/v4/tickets: GET ?appId= lists, POST creates, PUT updates the body's `id`, DELETE deletes `?id=` (or body)."""

    list_params = [
        _q("appId", "Your app id (or in the path: /v4/tickets/{appId})."),
        _q("status", "Only this status (any case)."),
        _q("assignedTo", "Only tickets of this agent."),
        _q("accountId", "Only this account's tickets."),
        _q("limit", "1 to 1,000 (default 1,000)."),
        _q("nextPageToken", "The previous answer's nextPageToken."),
    ]

    @_schema(
        "Fetch tickets",
        "Tickets of the app, oldest first: `count`, `tickets`, `nextPageToken` (null on the last page).",
        params=list_params,
        body=False,
        response=docs.TicketPageSerializer,
    )
    def get(self, request, *args, app_id: str | None = None, **kwargs):
        params = self.query("appId", "status", "assignedTo", "accountId", "limit", "nextPageToken")
        app_id = app_id or params.get("appId")
        if not app_id:
            return invalid({"appId": ["This field is required."]})
        tickets = _tickets(self.label_id).filter(app_id=app_id)
        if params.get("status"):
            tickets = tickets.filter(status__iexact=params["status"])
        if params.get("assignedTo"):
            agent = services.agent_resolve(label_id=self.label_id, ref=params["assignedTo"])
            tickets = tickets.filter(assignee=agent) if agent else tickets.none()
        if params.get("accountId"):
            tickets = tickets.filter(account__account_id=params["accountId"])
        rows, token = self.page(tickets, params)
        return success(count=len(rows), tickets=[out.ticket_out(t) for t in rows], nextPageToken=token)

    @_schema(
        "Create a ticket",
        "Creates a ticket: 201 with the ticket object itself, as the reference answers (ticketId, version 1, "
        "createTime…; its `status` is the ticket's status, so this answer carries no envelope status).",
        status=201,
        response=docs.TicketOutSerializer,
    )
    def post(self, request, *args, **kwargs):
        clean, errors = v.ticket(self.body(), creating=True)
        if errors:
            return invalid(errors)
        clean = self._player(clean)
        with transaction.atomic():  # the answer is the ticket as this call left it, not a later writer's
            ticket = services.ticket_create(label_id=self.label_id, data=clean, who=self.who())
            body = out.ticket_out(_tickets(self.label_id).get(pk=ticket.pk))
        return Response(body, status=201)

    @_schema(
        "Update a ticket",
        "Changes the given fields of ticket `id` (or `ticketId`, or the path's id). Send the `version` you read "
        "to get 409 ERROR (code version_conflict) if someone changed it since. Answers the ticket.",
        response=docs.TicketOutSerializer,
    )
    def put(self, request, *args, ticket_ref: str | None = None, **kwargs):
        data = self.body()
        errors: v.Errors = {}
        ticket_id = ticket_ref if ticket_ref else v.identifier(data, ("id", "ticketId"), errors)
        expected = v.version(data, "version", errors)
        clean, field_errors = v.ticket(data, creating=False)
        errors.update(field_errors)
        if errors:
            return invalid(errors)
        clean = self._player(clean)
        with transaction.atomic():  # the row stays locked until the answer is read: it shows this call's version
            ticket = services.ticket_update(
                label_id=self.label_id, ticket_id=ticket_id, data=clean, who=self.who(), expected_version=expected
            )
            body = out.ticket_out(_tickets(self.label_id).get(pk=ticket.pk))
        return Response(body)

    patch = put

    @_schema(
        "Delete a ticket",
        'Deletes ticket `id` (the path /v4/tickets/{id}, `?id=`, or a body `{"id": …}`). Answers '
        "`message: Ticket deleted`.",
        params=[_q("id", "The ticket's id.")],
    )
    def delete(self, request, *args, ticket_ref: str | None = None, **kwargs):
        errors: v.Errors = {}
        if ticket_ref is None:
            source = self.query("id", "ticketId") or (self.body() if request.body else {})
            ticket_ref = v.identifier(source, ("id", "ticketId"), errors)
        if errors:
            return invalid(errors)
        services.ticket_delete(label_id=self.label_id, ticket_id=ticket_ref, who=self.who())
        return success(message="Ticket deleted")

    def _player(self, clean: dict) -> dict:
        if "player_ref" in clean:
            clean["player"] = self.player(clean.pop("player_ref"))
        return clean


REF = OpenApiParameter(
    "ref",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="GET: the app id (the reference's `GET /tickets{appId}`); PUT and DELETE: the ticket's id.",
)


class TicketItemView(TicketsView):
    """/v4/tickets/{x}: the reference's `GET /tickets{appId}` (x is the app id) and `DELETE /tickets{id}` (x is the
    ticket id); PUT updates ticket x."""

    @_schema(
        "Fetch tickets of an app",
        "The reference's `GET /tickets{appId}`: the app's tickets, oldest first: `count`, `tickets`, "
        "`nextPageToken`. The query filters of GET /v4/tickets apply.",
        operation_id="sk_tickets_of_app",
        params=[REF, *TicketsView.list_params[1:]],
        body=False,
        response=docs.TicketPageSerializer,
    )
    def get(self, request, *args, ref: str = "", **kwargs):
        return super().get(request, app_id=ref)

    @_schema(
        "Update a ticket by id",
        "As PUT /v4/tickets, the ticket named by the path.",
        operation_id="sk_ticket_update_by_id",
        params=[REF],
        response=docs.TicketOutSerializer,
    )
    def put(self, request, *args, ref: str = "", **kwargs):
        return super().put(request, ticket_ref=_ticket_ref(ref))

    @_schema(
        "Update a ticket by id (PATCH)",
        "As PUT.",
        operation_id="sk_ticket_patch_by_id",
        params=[REF],
        response=docs.TicketOutSerializer,
    )
    def patch(self, request, *args, ref: str = "", **kwargs):
        return super().put(request, ticket_ref=_ticket_ref(ref))

    @_schema(
        "Delete a ticket by id",
        "The reference's `DELETE /tickets{id}`.",
        operation_id="sk_ticket_delete_by_id",
        params=[REF],
        body=False,
    )
    def delete(self, request, *args, ref: str = "", **kwargs):
        return super().delete(request, ticket_ref=_ticket_ref(ref))

    @extend_schema(exclude=True)
    def post(self, request, *args, **kwargs):
        return super().http_method_not_allowed(request)


def _ticket_ref(ref: str) -> str:
    errors: v.Errors = {}
    value = v.identifier({"id": ref}, ("id",), errors)
    if errors:
        raise NotFound("No such ticket.")
    return value or ""


# --- comments --------------------------------------------------------------------------------------------------------
class CommentsView(TicketsFamilyView):
    """/v4/tickets/comments and /v4/tickets/comment: GET ?ticketId= lists, POST adds, PUT edits."""

    @_schema(
        "Fetch ticket comments",
        "The ticket's comments, oldest first: `count`, `comments`.",
        params=[_q("appId", "Your app id (optional here)."), _q("ticketId", "The ticket's id (required).")],
        body=False,
        response=docs.CommentListSerializer,
    )
    def get(self, request, *args, **kwargs):
        params = self.query("appId", "ticketId")
        errors: v.Errors = {}
        ticket_id = v.identifier(params, ("ticketId",), errors)
        if errors:
            return invalid(errors)
        ticket = _tickets(self.label_id).filter(ticket_id=ticket_id).first()
        if ticket is None:
            raise NotFound("No such ticket.")
        comments = TicketComment.objects.filter(ticket=ticket).select_related("ticket").order_by("created_at", "pk")
        return success(count=len(comments), comments=[out.comment_out(c) for c in comments])

    @_schema(
        "Create a ticket comment",
        "Adds a comment (`ticketId`, `description`, optional `createdBy`, `createdByType`): 201 with the comment.",
        status=201,
        response=docs.CommentEnvelopeSerializer,
    )
    def post(self, request, *args, **kwargs):
        clean, errors = v.comment(self.body(), creating=True)
        if errors:
            return invalid(errors)
        comment = services.comment_create(label_id=self.label_id, who=self.who(), **clean)
        return success(201, **out.comment_out(comment))

    @_schema(
        "Edit a ticket comment",
        "Changes comment `id`'s `description`; send `version` to get 409 if it was edited since. Answers the comment.",
        response=docs.CommentEnvelopeSerializer,
    )
    def put(self, request, *args, comment_ref: str | None = None, **kwargs):
        data = self.body()
        if comment_ref is not None:
            data = {**data, "id": comment_ref}
        clean, errors = v.comment(data, creating=False)
        if errors:
            return invalid(errors)
        comment = services.comment_update(
            label_id=self.label_id,
            comment_id=clean["comment_id"],
            description=clean["description"],
            who=self.who(),
            expected_version=clean["version"],
        )
        return success(**out.comment_out(comment))

    patch = put


class CommentItemView(CommentsView):
    """/v4/tickets/comments/{id}: PUT edits that comment (a form some clients use; not in the schema)."""

    schema = None

    def put(self, request, *args, ref: str = "", **kwargs):
        return super().put(request, comment_ref=ref)

    patch = put

    def get(self, request, *args, **kwargs):
        return super().http_method_not_allowed(request)

    def post(self, request, *args, **kwargs):
        return super().http_method_not_allowed(request)


def hidden(view: type) -> type:
    """The same endpoint at another path form of the reference: answered, documented in docs/tickets.md, left out of
    the OpenAPI schema (one operation per endpoint there)."""
    return type(f"{view.__name__}Alias", (view,), {"schema": None})
