"""Pitboss's own ticket API (/api/v1/tickets): list the label's tickets by queue, open one, change it with optimistic
concurrency (send `version`: 409 if it moved on), delete it, its comment thread and its history.

Partner keys and staff sessions alike: reading needs Perm.VIEW, writing Perm.PLAYER_ACT (support included) in the
ticket's label. Strict input (unknown fields refused), unlike the SmartKarrot-compatible paths.
"""

from __future__ import annotations

import django_filters as filters
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.schema import error_responses
from backoffice.api.serializers import StrictSerializer
from backoffice.errors import DomainValidationError, NotFound
from backoffice.filtersets import BaseFilterSet, MultiValueCharFilter
from backoffice.models import ApiKey, Label, Perm
from backoffice.scoping import Actor
from crm.models import CreatorType, Escalation, Ticket, TicketComment, TicketHistory
from crm.selectors import player_get
from crm.services import tickets as services

TICKET_ID = OpenApiParameter(
    "ticket_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The ticket's id (ticket_id)."
)
QUEUES = ["open", "overdue", "escalated", "unassigned", "closed"]


def tickets_for_actor(actor: Actor):
    return (
        Ticket.objects.for_actor(actor)
        .filter(deleted_at=None)
        .select_related("label", "account", "assignee", "player__brand")
    )


def _ticket(actor: Actor, ticket_id) -> Ticket:
    try:
        return tickets_for_actor(actor).get(ticket_id=ticket_id)
    except (Ticket.DoesNotExist, ValueError) as exc:
        raise NotFound("No such ticket.") from exc


def _who(request) -> services.Who:
    if isinstance(request.auth, ApiKey):
        return services.Who(name=f"api key {request.auth.name}")
    return services.Who.staff(request.user)


def _require(actor: Actor, label_id: int) -> None:
    if not actor.can(Perm.PLAYER_ACT, label_id):
        raise PermissionDenied("Your role may not change tickets.")


def _has_nul(value) -> bool:
    """PostgreSQL text and JSONB cannot hold NUL characters."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


# --- serializers -----------------------------------------------------------------------------------------------------
class AgentRefSerializer(serializers.Serializer):
    agent_id = serializers.UUIDField(read_only=True, help_text="The agent's id.")
    customer_agent_id = serializers.CharField(read_only=True, help_text="Your id of the agent.")
    name = serializers.CharField(source="full_name", read_only=True, help_text="The agent's name.")


class TicketSerializer(serializers.ModelSerializer):
    label_key = serializers.CharField(source="label.label_key", read_only=True, help_text="The label's public key.")
    account_id = serializers.CharField(
        source="account.account_id", read_only=True, allow_null=True, help_text="The customer account's id."
    )
    assignee = AgentRefSerializer(read_only=True, allow_null=True, help_text="The agent it is assigned to, or null.")
    ext_brand_id = serializers.CharField(
        source="player.brand.ext_brand_id", read_only=True, allow_null=True, help_text="The linked player's brand."
    )
    user_ext_id = serializers.CharField(
        source="player.user_ext_id", read_only=True, allow_null=True, help_text="The linked player's id."
    )
    overdue = serializers.SerializerMethodField(help_text="Open and past its due date.")

    class Meta:
        model = Ticket
        fields = [
            "ticket_id", "label_key", "app_id", "visible_id", "account_id", "ticket_name", "created_by",
            "created_by_type", "assignee", "due_date", "overdue", "escalation", "priority", "status", "is_closed",
            "type", "custom_fields", "ext_brand_id", "user_ext_id", "version", "escalated_at", "closed_at",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_overdue(self, obj) -> bool:
        return obj.is_overdue(timezone.now())


class TicketWriteSerializer(StrictSerializer):
    """The fields a write may set; on PATCH only those sent change (null clears an optional one)."""

    label_key = serializers.CharField(
        max_length=64, required=False, help_text="Create only: the label, for staff with several labels."
    )
    app_id = serializers.CharField(max_length=128, required=False, allow_blank=True, help_text="Your app id.")
    visible_id = serializers.CharField(max_length=128, required=False, allow_blank=True, help_text="Your ticket id.")
    account_id = serializers.CharField(
        max_length=128, required=False, allow_blank=True, allow_null=True, help_text="The customer account's id."
    )
    ticket_name = serializers.CharField(max_length=500, required=False, allow_blank=True, help_text="Its name.")
    created_by = serializers.CharField(max_length=128, required=False, allow_blank=True, help_text="Creator's id.")
    created_by_type = serializers.ChoiceField(
        CreatorType.choices, required=False, allow_blank=True, help_text="agent or contact."
    )
    assignee = serializers.CharField(
        max_length=128, required=False, allow_null=True, help_text="Agent id or your agent id; null unassigns."
    )
    due_date = serializers.DateTimeField(required=False, allow_null=True, help_text="SLA due date; null clears.")
    escalation = serializers.ChoiceField(Escalation.choices, required=False, help_text="escalated or notEscalated.")
    priority = serializers.CharField(max_length=64, required=False, allow_blank=True, help_text="Priority.")
    status = serializers.CharField(max_length=64, required=False, help_text="Status (closed/resolved close it).")
    type = serializers.CharField(max_length=255, required=False, allow_blank=True, help_text="Type.")
    custom_fields = serializers.DictField(required=False, help_text="Other fields as key/value pairs.")
    ext_brand_id = serializers.CharField(max_length=64, required=False, allow_null=True, help_text="Player's brand.")
    user_ext_id = serializers.CharField(
        max_length=128, required=False, allow_null=True, help_text="Player's id (with ext_brand_id); null unlinks."
    )
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="PATCH: the version you read; 409 if the ticket changed since."
    )

    def validate(self, attrs):
        for name, value in list(attrs.items()):
            if _has_nul(value):
                raise serializers.ValidationError({name: ["Must not contain NUL characters."]})
        if ("ext_brand_id" in attrs) != ("user_ext_id" in attrs):
            raise serializers.ValidationError({"user_ext_id": ["Send ext_brand_id and user_ext_id together."]})
        return attrs


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(read_only=True, help_text="Who wrote it: a staff user, or the agent/contact id.")

    class Meta:
        model = TicketComment
        fields = ["comment_id", "description", "created_by", "created_by_type", "author", "version", "created_at"]
        read_only_fields = fields


class CommentWriteSerializer(StrictSerializer):
    description = serializers.CharField(max_length=20000, help_text="The comment's text.")
    created_by = serializers.CharField(max_length=128, required=False, default="", help_text="Author's id.")
    created_by_type = serializers.ChoiceField(
        CreatorType.choices, required=False, default="", allow_blank=True, help_text="agent or contact."
    )

    def validate(self, attrs):
        if any("\x00" in str(v) for v in attrs.values()):
            raise serializers.ValidationError({"description": ["Must not contain NUL characters."]})
        return attrs


class HistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketHistory
        fields = ["action", "changes", "version", "actor", "created_at"]
        read_only_fields = fields
        extra_kwargs = {"action": {"help_text": "created, updated, deleted, commented, comment_edited."}}


# --- filters ---------------------------------------------------------------------------------------------------------
class TicketFilterSet(BaseFilterSet):
    queue = filters.ChoiceFilter(
        choices=[(q, q) for q in QUEUES],
        method="filter_queue",
        help_text="open, overdue, escalated, unassigned, closed.",
    )
    status = MultiValueCharFilter(field_name="status", lookup_expr="iexact", help_text="Statuses (any case).")
    assignee = filters.UUIDFilter(field_name="assignee__agent_id", help_text="The agent's id.")
    account_id = MultiValueCharFilter(field_name="account__account_id", help_text="Customer account ids.")
    user_ext_id = MultiValueCharFilter(field_name="player__user_ext_id", help_text="Linked players' ids.")
    app_id = MultiValueCharFilter(field_name="app_id", help_text="App ids.")

    class Meta:
        model = Ticket
        fields: list[str] = []

    def filter_queue(self, queryset, name, value):
        now = timezone.now()
        return {
            "open": queryset.filter(is_closed=False),
            "overdue": queryset.filter(is_closed=False, due_date__lt=now),
            "escalated": queryset.filter(is_closed=False, escalation=Escalation.ESCALATED),
            "unassigned": queryset.filter(is_closed=False, assignee=None),
            "closed": queryset.filter(is_closed=True),
        }[value]

    def filter_q(self, queryset, name, value):
        """`q`: the visible id, or words of the name."""
        return queryset.filter(Q(visible_id=value) | Q(ticket_name__icontains=value))


# --- views -----------------------------------------------------------------------------------------------------------
def _values(actor: Actor, label_id: int, data: dict) -> dict:
    values = {k: data[k] for k in services.TICKET_FIELDS if k in data and k != "player"}
    if "account_id" in values and values["account_id"] is None:
        values["account_id"] = ""
    if "ext_brand_id" in data:
        if data["ext_brand_id"] and data["user_ext_id"]:
            label_key = Label.objects.get(pk=label_id).label_key
            try:
                values["player"] = player_get(
                    actor=actor, ext_brand_id=data["ext_brand_id"], user_ext_id=data["user_ext_id"], label_key=label_key
                )
            except (NotFound, DomainValidationError) as exc:
                raise DomainValidationError({"user_ext_id": ["No such player in the ticket's label."]}) from exc
        else:
            values["player"] = None
    return values


class TicketListView(ListAPIView):
    """The label's tickets, newest first (GET); open one (POST)."""

    serializer_class = TicketSerializer
    filterset_class = TicketFilterSet

    def get_queryset(self):
        return tickets_for_actor(request_actor(self.request))

    @extend_schema(
        tags=["tickets"],
        summary="List tickets",
        responses={200: TicketSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["tickets"],
        summary="Open a ticket",
        description="Creates a ticket (version 1). Without due_date, the label's SLA policy for its priority sets one.",
        request=TicketWriteSerializer,
        responses={201: TicketSerializer, **error_responses(400, 401, 403)},
    )
    def post(self, request, *args, **kwargs):
        actor = request_actor(request)
        data = _valid(TicketWriteSerializer, request.data)
        label_id = _write_label(actor, data.get("label_key"))
        with transaction.atomic():  # the answer is the ticket as this call left it, not a later writer's
            ticket = services.ticket_create(label_id=label_id, data=_values(actor, label_id, data), who=_who(request))
            body = TicketSerializer(_ticket(actor, ticket.ticket_id)).data
        return Response(body, status=201)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _write_label(actor: Actor, label_key: str | None) -> int:
    labels = actor.labels_with(Perm.PLAYER_ACT)
    if not labels:
        raise PermissionDenied("Your role may not change tickets.")
    if label_key:
        found = Label.objects.filter(pk__in=labels, label_key=label_key).values_list("pk", flat=True).first()
        if found is None:
            raise DomainValidationError({"label_key": ["Not one of your labels."]})
        return found
    if len(labels) > 1:
        raise DomainValidationError({"label_key": ["Required: you work in several labels."]})
    return next(iter(labels))


class TicketDetailView(APIView):
    @extend_schema(
        tags=["tickets"],
        summary="Read a ticket",
        parameters=[TICKET_ID],
        responses={200: TicketSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, ticket_id):
        return Response(TicketSerializer(_ticket(request_actor(request), ticket_id)).data)

    @extend_schema(
        tags=["tickets"],
        summary="Change a ticket",
        description="Changes the fields sent. With `version`: 409 (code version_conflict) if it changed since.",
        parameters=[TICKET_ID],
        request=TicketWriteSerializer,
        responses={200: TicketSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def patch(self, request, ticket_id):
        actor = request_actor(request)
        ticket = _ticket(actor, ticket_id)
        _require(actor, ticket.label_id)
        data = _valid(TicketWriteSerializer, request.data)
        data.pop("label_key", None)
        with transaction.atomic():  # the row stays locked until the answer is read: it shows this call's version
            services.ticket_update(
                label_id=ticket.label_id,
                ticket_id=ticket.ticket_id,
                data=_values(actor, ticket.label_id, data),
                who=_who(request),
                expected_version=data.get("version"),
            )
            body = TicketSerializer(_ticket(actor, ticket_id)).data
        return Response(body)

    @extend_schema(
        tags=["tickets"],
        summary="Delete a ticket",
        parameters=[TICKET_ID],
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def delete(self, request, ticket_id):
        actor = request_actor(request)
        ticket = _ticket(actor, ticket_id)
        _require(actor, ticket.label_id)
        services.ticket_delete(label_id=ticket.label_id, ticket_id=ticket.ticket_id, who=_who(request))
        return Response(status=204)


class TicketCommentsView(APIView):
    @extend_schema(
        tags=["tickets"],
        summary="A ticket's comments",
        parameters=[TICKET_ID],
        responses={200: CommentSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request, ticket_id):
        ticket = _ticket(request_actor(request), ticket_id)
        comments = TicketComment.objects.filter(ticket=ticket).select_related("staff_user").order_by("created_at", "id")
        return Response(CommentSerializer(comments, many=True).data)

    @extend_schema(
        tags=["tickets"],
        summary="Comment on a ticket",
        parameters=[TICKET_ID],
        request=CommentWriteSerializer,
        responses={201: CommentSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request, ticket_id):
        actor = request_actor(request)
        ticket = _ticket(actor, ticket_id)
        _require(actor, ticket.label_id)
        data = _valid(CommentWriteSerializer, request.data)
        comment = services.comment_create(
            label_id=ticket.label_id, ticket_id=ticket.ticket_id, who=_who(request), **data
        )
        return Response(CommentSerializer(comment).data, status=201)


class TicketHistoryView(APIView):
    @extend_schema(
        tags=["tickets"],
        summary="A ticket's history",
        description="Every change, oldest first: who, when, what (field -> [before, after]) and the version it made.",
        parameters=[TICKET_ID],
        responses={200: HistorySerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request, ticket_id):
        ticket = _ticket(request_actor(request), ticket_id)
        return Response(HistorySerializer(ticket.history.order_by("created_at", "id"), many=True).data)
