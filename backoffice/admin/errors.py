"""The admin's 403 and 404 pages, in the admin's look, and the offer to switch label.

A staff user narrowed by the label switcher to label A who opens the address of an object of their label B gets a 404
(or a 403, where their role in A does not reach the page): the page then offers to switch to B, and the switch lands
on the object. Everyone else (an outsider, staff of an unrelated label, an id that exists nowhere) gets the same plain
page: nothing on it tells whether the object exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse

from backoffice.admin.base import LabelScopedAdmin
from backoffice.models import Label
from backoffice.scoping import Actor, actor_for_request

TEMPLATE = "admin/pitboss/error.html"


@dataclass(frozen=True)
class SwitchOffer:
    """Where the object is: one of the user's labels, out of view now; the switch form posts `label` and `next`."""

    label_id: int
    label_name: str
    object_kind: str
    next_url: str
    switch_url: str


def object_admin(path: str) -> tuple[LabelScopedAdmin, str] | None:
    """The label-scoped model admin and the object id of an admin URL about one object (change, history, delete and
    the admins' own object pages); None for any other address."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    object_id = match.kwargs.get("object_id")
    if match.namespace != admin.site.name or not isinstance(object_id, str):
        return None
    model_admin = _admin_of(match)
    if not isinstance(model_admin, LabelScopedAdmin):
        return None
    return model_admin, unquote(object_id)


def _admin_of(match):
    # Django's own views carry their admin; most extra views are its bound methods wrapped by admin_view; the rest
    # are named "<app>_<model>_<what>" like Django's (the longest model name wins: crm_event_ vs crm_eventtype_).
    model_admin = getattr(match.func, "model_admin", None) or getattr(
        getattr(match.func, "__wrapped__", None), "__self__", None
    )
    if model_admin is not None or not match.url_name:
        return model_admin
    named = [
        (len(model._meta.model_name or ""), candidate)
        for model, candidate in admin.site._registry.items()
        if match.url_name.startswith(f"{model._meta.app_label}_{model._meta.model_name}_")
    ]
    return max(named, key=lambda pair: pair[0])[1] if named else None


def object_label_id(model_admin: LabelScopedAdmin, object_id: str) -> int | None:
    """The label of the object, whoever may see it (None when there is no such object)."""
    try:
        obj = model_admin.model._default_manager.filter(pk=object_id).first()
    except (ValueError, TypeError, ValidationError):  # an id of the wrong shape for the key: no such object
        return None
    return None if obj is None else model_admin.label_id_of(obj)


def may_view_in(actor: Actor, model_admin: LabelScopedAdmin, label_id: int) -> bool:
    """Whether the actor's role in `label_id` shows this admin's objects, whatever the switcher narrows to."""
    return model_admin.view_perm in actor.perms.get(label_id, frozenset())


def switch_offer(request) -> SwitchOffer | None:
    """The offer to switch label, when the address is an object of another of the user's labels that they may see
    there; None otherwise (and always for someone with no role in the object's label)."""
    actor = actor_for_request(request)
    if not actor.all_label_ids:
        return None
    found = object_admin(request.path_info)
    if found is None:
        return None
    model_admin, object_id = found
    label_id = object_label_id(model_admin, object_id)
    if label_id is None or label_id in actor.label_ids or not may_view_in(actor, model_admin, label_id):
        return None
    return SwitchOffer(
        label_id=label_id,
        label_name=Label.objects.filter(pk=label_id).values_list("name", flat=True).first() or "",
        object_kind=str(model_admin.opts.verbose_name),
        next_url=request.get_full_path(),
        switch_url=reverse("admin:backoffice_label_switch"),
    )


def _page(request, status: int, title: str, text: str):
    if not hasattr(request, "user"):  # an error raised before the authentication middleware ran
        request.user = AnonymousUser()
    staff = request.user.is_authenticated and request.user.is_staff
    context = {
        **admin.site.each_context(request),  # the theme's colours and the site's name, signed in or not
        "title": title,
        "text": text,
        "status": status,
        "base_template": "admin/base_site.html" if staff else "unfold/layouts/unauthenticated.html",
        "offer": switch_offer(request) if staff else None,
        "home_url": reverse("admin:index"),
    }
    return render(request, TEMPLATE, context, status=status)


def page_not_found(request, exception=None):
    """404, in the admin's look: the same words for an id that exists nowhere and one of a label out of reach."""
    return _page(
        request,
        404,
        "Page not found",
        "There is nothing at this address in the labels in view: the link may be mistyped or out of date, or what it "
        "showed was deleted.",
    )


def permission_denied(request, exception=None):
    """403, in the admin's look."""
    return _page(
        request,
        403,
        "Access denied",
        "Your role does not give access to this page in the labels in view. An administrator of your label can "
        "change your role.",
    )
