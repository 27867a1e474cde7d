"""The answers of the tickets family as OpenAPI components (documentation only: representation.py builds them)."""

from __future__ import annotations

from rest_framework import serializers

TIME = "UTC, as the reference writes it: 'Feb 1, 2021 7:50:11 AM'."


class EnvelopeSerializer(serializers.Serializer):
    """A SUCCESS answer's envelope field (text, not an enum: the envelope's enum stays one component)."""

    status = serializers.CharField(help_text="SUCCESS.")


def _s(help_text: str, **kwargs) -> serializers.CharField:
    return serializers.CharField(help_text=help_text, allow_blank=True, **kwargs)


class ContactOutSerializer(serializers.Serializer):
    contactId = serializers.UUIDField(help_text="Pitboss's id of the contact.")
    appId = _s("The app id it was written through.")
    firstName = _s("First name.")
    lastName = _s("Last name.")
    role = _s("Role or position.")
    email = serializers.EmailField(help_text="Email address.")
    phoneNumber = _s("Phone number.")
    countryCode = _s("Country code.")
    status = _s("active or inactive.")
    accountId = _s("The customer account's id.", allow_null=True)
    customerContactId = _s("Your id of the contact.")
    salesforceId = _s("The Salesforce contact id.")
    uploadedImageUrl = _s("Profile image URL.")
    displaySuggestion = serializers.BooleanField(help_text="Suggested in the UI.")
    isChampion = serializers.BooleanField(help_text="A champion at the account.")
    createTime = _s(TIME)
    updateTime = _s(TIME)


class AgentOutSerializer(serializers.Serializer):
    agentId = serializers.UUIDField(help_text="Pitboss's id of the agent (assignedTo names it).")
    appId = _s("The app id it was written through.")
    firstName = _s("First name.")
    lastName = _s("Last name.")
    email = serializers.EmailField(help_text="Email address.")
    phoneNumber = _s("Phone number.")
    countryCode = _s("Country code.")
    customerAgentId = _s("Your id of the agent.")
    uploadedImageUrl = _s("Profile image URL.")
    createTime = _s(TIME)
    updateTime = _s(TIME)


class TicketOutSerializer(serializers.Serializer):
    """The ticket object. Create and update answer it alone (its `status` is the ticket's status, no envelope)."""

    ticketId = serializers.UUIDField(help_text="Pitboss's id of the ticket.")
    visibleId = _s("Your own ticket id.")
    appId = _s("Your app id.")
    accountId = _s("The customer account's id.", allow_null=True)
    ticketName = _s("Name of the ticket.")
    createdBy = _s("Creator's id.")
    createdByType = _s("agent or contact (or empty).")
    escalation = _s("escalated or notEscalated.")
    assignedTo = serializers.UUIDField(allow_null=True, help_text="The assigned agent's agentId, or null.")
    dueDate = _s("ISO 8601 (UTC), or null.", allow_null=True)
    priority = _s("Priority.")
    status = _s("The ticket's status.")
    type = _s("Type.")
    customFields = serializers.DictField(help_text="Other fields as key/value pairs.")
    extBrandId = _s("The linked player's brand (a Pitboss addition), or null.", allow_null=True)
    userExtId = _s("The linked player's id (a Pitboss addition), or null.", allow_null=True)
    createTime = _s(TIME)
    updateTime = _s(TIME)
    version = serializers.IntegerField(help_text="Grows by one on every change; send it back to detect conflicts.")
    allValues = serializers.IntegerField(help_text="Always 1 (as the reference).")


class CommentOutSerializer(serializers.Serializer):
    CommentId = serializers.UUIDField(help_text="Pitboss's id of the comment.")
    ticketId = serializers.UUIDField(help_text="The ticket's id.")
    description = _s("The comment's text.")
    createdBy = _s("Author's id.")
    createdById = _s("Author's id (the reference's list calls it so).")
    createdByType = _s("agent or contact (or empty).")
    createTime = _s(TIME)
    updateTime = _s(TIME)
    version = serializers.IntegerField(help_text="Grows by one on every edit.")
    allValues = serializers.IntegerField(help_text="Always 1.")


class PageSerializer(EnvelopeSerializer):
    count = serializers.IntegerField(help_text="Rows in this page.")
    nextPageToken = _s("Pass it back for the next page; null on the last.", allow_null=True)


class ContactPageSerializer(PageSerializer):
    contacts = ContactOutSerializer(many=True, help_text="The contacts of the page.")


class AgentPageSerializer(PageSerializer):
    agents = AgentOutSerializer(many=True, help_text="The agents of the page.")


class TicketPageSerializer(PageSerializer):
    tickets = TicketOutSerializer(many=True, help_text="The tickets of the page.")


class CommentListSerializer(EnvelopeSerializer):
    count = serializers.IntegerField(help_text="Number of comments.")
    comments = CommentOutSerializer(many=True, help_text="Oldest first.")


class CommentEnvelopeSerializer(EnvelopeSerializer, CommentOutSerializer):
    """A comment with the envelope's status beside its fields."""


class UnsavedRowSerializer(serializers.Serializer):
    allValues = serializers.IntegerField(help_text="Always 1.")
    reasons = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Each invalid field with its messages."
    )


class ContactsSavedSerializer(EnvelopeSerializer):
    unsavedContacts = UnsavedRowSerializer(many=True, help_text="Rows not saved, as sent, with `reasons`.")
    savedContacts = ContactOutSerializer(many=True, help_text="The contacts saved.")

    def get_fields(self):
        fields = super().get_fields()
        fields["Saved Contact count"] = serializers.IntegerField(help_text="Contacts saved.")
        fields["Unsaved Contact count"] = serializers.IntegerField(help_text="Contacts refused.")
        return fields


class AgentsSavedSerializer(EnvelopeSerializer):
    unsavedAgents = UnsavedRowSerializer(many=True, help_text="Rows not saved, as sent, with `reasons`.")
    savedAgents = AgentOutSerializer(many=True, help_text="The agents saved.")

    def get_fields(self):
        fields = super().get_fields()
        fields[" Saved Agents count: "] = serializers.IntegerField(help_text="Agents saved (the reference's key).")
        fields[" Unsaved Agents count: "] = serializers.IntegerField(help_text="Agents refused.")
        return fields
