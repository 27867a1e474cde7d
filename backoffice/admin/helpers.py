"""Small pieces the admins share: badges and the confirmation page of object actions."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse


def badge(text: str, variant: str = "") -> str:
    """The theme's badge (variant: success, info, warning, danger, primary, or "" for neutral)."""
    return render_to_string("unfold/helpers/label.html", {"text": text, "variant": variant})


def confirm_page(model_admin, request, *, obj, title: str, text: str, button: str, cancel_url: str):
    """A POST-confirmation page for an action on one object (actions change state, so never on GET)."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.opts,
        "object": obj,
        "text": text,
        "button": button,
        "cancel_url": cancel_url,
    }
    return TemplateResponse(request, "admin/pitboss/confirm_action.html", context)


def object_url(model_admin, obj) -> str:
    return reverse(f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_change", args=[obj.pk])


def confirmed_action(model_admin, request, obj, *, title: str, text: str, button: str, perform: Callable[[], None]):
    """An action on one object: GET shows the confirmation page, POST runs `perform` (which says what it did with
    messages) and returns to the object's page."""
    if request.method != "POST":
        return confirm_page(
            model_admin,
            request,
            obj=obj,
            title=title,
            text=text,
            button=button,
            cancel_url=object_url(model_admin, obj),
        )
    perform()
    return HttpResponseRedirect(object_url(model_admin, obj))
