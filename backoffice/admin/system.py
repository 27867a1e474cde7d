"""Admins outside the tenancy model (auth users and groups, Celery beat): superusers only, in the unfold theme.

Label admins manage people through staff roles; user accounts and schedules span every label.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from backoffice.admin.base import SuperuserOnlyMixin

User = get_user_model()


def _reregister(model, admin_class: type) -> None:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, admin_class)


class UserAdmin(SuperuserOnlyMixin, BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


class GroupAdmin(SuperuserOnlyMixin, BaseGroupAdmin, ModelAdmin):
    pass


_reregister(User, UserAdmin)
_reregister(Group, GroupAdmin)

for _model in (PeriodicTask, IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule):
    _base = type(admin.site.get_model_admin(_model)) if admin.site.is_registered(_model) else ModelAdmin
    _bases = (SuperuserOnlyMixin, _base) if issubclass(_base, ModelAdmin) else (SuperuserOnlyMixin, _base, ModelAdmin)
    _reregister(_model, type(f"{_model.__name__}Admin", _bases, {}))
