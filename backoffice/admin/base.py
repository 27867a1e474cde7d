"""The one base class of every label-scoped admin: rows, choices and permissions all come from the request's Actor.

Django's model permissions play no part here. A staff user sees the rows of the labels where they hold a role
(narrowed by the label switcher) and may add, change or delete only where that role grants the admin's `Perm`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from unfold.admin import ModelAdmin, TabularInline

from backoffice.models import Brand, Label, Perm
from backoffice.scoping import Actor, actor_for_request


class LabelScopedAdmin(ModelAdmin):
    """Scopes rows, foreign-key choices and permissions to the labels of the request's actor.

    Subclasses name the `Perm` each operation needs; `None` means nobody may do it in the admin.
    """

    view_perm: str = Perm.VIEW
    add_perm: str | None = None
    change_perm: str | None = None
    delete_perm: str | None = None
    # Foreign keys whose choices are narrowed to the actor's labels (label) or to brands of those labels (brand).
    scoped_foreign_keys: dict[str, type[models.Model]] = {"label": Label, "brand": Brand}

    # --- who and where -------------------------------------------------------------------------------------------
    @staticmethod
    def actor(request) -> Actor:
        return actor_for_request(request)

    def label_id_of(self, obj) -> int | None:
        return obj.label_id

    def _allowed(self, request, perm: str | None, obj=None) -> bool:
        if perm is None:
            return False
        actor = self.actor(request)
        if obj is None:
            return actor.can_anywhere(perm)
        return actor.can(perm, self.label_id_of(obj))

    # --- rows ----------------------------------------------------------------------------------------------------
    def get_queryset(self, request):
        # The labels where the actor holds `view_perm`, not every label they see: staff who run one label and only
        # view another must not list the other's rows of a page their role there does not open.
        return super().get_queryset(request).for_actor(self.actor(request), self.view_perm)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Another label's id and a missing id answer the same: 404, never a hint that the row exists.
        raise Http404(f"No {opts.verbose_name} with this id.")

    # --- permissions ---------------------------------------------------------------------------------------------
    def has_module_permission(self, request) -> bool:
        return self._allowed(request, self.view_perm)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.view_perm, obj)

    def has_add_permission(self, request) -> bool:
        return self._allowed(request, self.add_perm)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.change_perm, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.delete_perm, obj)

    # --- writes --------------------------------------------------------------------------------------------------
    def write_perm(self, request, obj=None) -> str | None:
        """The permission a form needs: adding a row or changing `obj`."""
        return self.add_perm if obj is None else self.change_perm

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scoped = self.scoped_foreign_keys.get(db_field.name)
        if scoped is not None and db_field.related_model is scoped:
            obj = getattr(request, "_pitboss_admin_obj", None)
            kwargs["queryset"] = scoped.objects.for_actor(self.actor(request), self.write_perm(request, obj))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # formfield_for_foreignkey is not told which object the form is for; remember it on the request.
        request._pitboss_admin_obj = obj
        return super().get_form(request, obj, change=change, **kwargs)

    def get_changeform_initial_data(self, request) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        if "label" in self.scoped_foreign_keys and "label" not in initial:
            labels = self.actor(request).labels_with(self.add_perm) if self.add_perm else frozenset()
            if len(labels) == 1:
                initial["label"] = next(iter(labels))
        return initial

    def get_deleted_objects(self, objs, request):
        protected = self.protected_summary(objs)
        if protected:
            # Listing every protected row (a brand's million players) would take the page down; counts say enough.
            return [], {}, set(), protected
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The bulk action checks the permission once, for no object; a list can mix labels with different roles.
        if any(not self.has_delete_permission(request, obj) for obj in objs):
            perms_needed.add(str(self.opts.verbose_name))
        return to_delete, model_count, perms_needed, protected

    def protected_summary(self, objs) -> list[str]:
        """Why `objs` cannot be deleted (rows that refer to them), as short sentences; empty when they can."""
        return []

    def delete_model(self, request, obj) -> None:
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        if any(not self.has_delete_permission(request, obj) for obj in queryset):
            raise PermissionDenied
        super().delete_queryset(request, queryset)


class LabelScopedTabularInline(TabularInline):
    """The rows of a label-scoped parent (a mission's tasks, a badge's stages): viewed with `view_perm` on the parent's
    label, written with `write_perm`; `obj` is the parent (None on its add page)."""

    view_perm: str = Perm.VIEW
    write_perm: str = Perm.CONFIG_CHANGE

    def _allowed(self, request, perm: str, obj=None) -> bool:
        actor = LabelScopedAdmin.actor(request)
        return actor.can(perm, obj.label_id) if obj is not None else actor.can_anywhere(perm)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.view_perm, obj)

    def writable(self, obj) -> bool:
        """Whether the parent's rows may change at all, whoever asks (a mission's tasks only while it is a draft)."""
        return True

    def has_add_permission(self, request, obj=None) -> bool:
        return self.writable(obj) and self._allowed(request, self.write_perm, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.writable(obj) and self._allowed(request, self.write_perm, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.writable(obj) and self._allowed(request, self.write_perm, obj)


class SuperuserOnlyMixin:
    """Models outside the tenancy model (auth, Celery beat): superusers only, whatever Django permissions say."""

    @staticmethod
    def _superuser(request) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return self._superuser(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._superuser(request)

    def has_add_permission(self, request, *args) -> bool:
        return self._superuser(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._superuser(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._superuser(request)


def may_act_on(model_admin: LabelScopedAdmin, request, perm: str, object_id=None) -> bool:
    """unfold's check of a custom action (`has_<action>_permission`): on the list, whether the actor may do it in any
    label; on an object, whether in the object's label. An actor who may do it somewhere but cannot see this object
    gets 404, as for any other label's id (a 403 would tell that the id exists elsewhere); one who may do it nowhere
    gets 403 before any lookup, as on Django's own pages."""
    actor = model_admin.actor(request)
    if object_id is None or not actor.can_anywhere(perm):
        return actor.can_anywhere(perm)
    obj = model_admin.get_object(request, object_id)
    if obj is None:
        raise Http404
    return actor.can(perm, model_admin.label_id_of(obj))
