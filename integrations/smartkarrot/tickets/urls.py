"""URLs of the SmartKarrot-compatible tickets endpoints (included at /v4/ by integrations/smartkarrot/urls.py).

Every form a client of the reference may already use is answered (docs/tickets.md lists them), with or without a
trailing slash: the reference's curl example posts to /v4/tickets/comment while its endpoint list says
/tickets/comments; contacts and agents are listed both with and without the /tickets prefix; `GET /tickets{appId}`
and `DELETE /tickets{id}` are answered as /tickets/{appId}, /tickets?appId=, and even with the id glued on. The
OpenAPI schema documents one form of each (the others are `hidden`).
"""

from django.urls import re_path

from integrations.smartkarrot.tickets import views
from integrations.smartkarrot.tickets.views import hidden

UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

urlpatterns = [
    re_path(r"^tickets/contacts/?$", views.ContactsView.as_view(), name="sk-contacts"),
    re_path(r"^contacts/?$", hidden(views.ContactsView).as_view(), name="sk-contacts-short"),
    re_path(r"^agents/?$", views.AgentsView.as_view(), name="sk-agents"),
    re_path(r"^tickets/agents/?$", hidden(views.AgentsView).as_view(), name="sk-agents-long"),
    re_path(r"^(?:tickets/)?agents/(?P<agent_ref>[^/]+)/?$", hidden(views.AgentsView).as_view(), name="sk-agent"),
    re_path(r"^tickets/comments/?$", views.CommentsView.as_view(), name="sk-ticket-comments"),
    re_path(r"^tickets/comment/?$", hidden(views.CommentsView).as_view(), name="sk-ticket-comment-short"),
    re_path(r"^tickets/comments?/(?P<ref>[^/]+)/?$", views.CommentItemView.as_view(), name="sk-ticket-comment"),
    re_path(r"^tickets/?$", views.TicketsView.as_view(), name="sk-tickets"),
    re_path(r"^tickets/(?P<ref>[^/]+)/?$", views.TicketItemView.as_view(), name="sk-ticket"),
    re_path(rf"^tickets(?P<ref>{UUID})/?$", hidden(views.TicketItemView).as_view(), name="sk-ticket-glued"),
]
