"""factory_boy factories for the shared kernel and CRM."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from backoffice.models import Brand, Label, Role, StaffRole
from crm.models import Player


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    name = factory.Sequence(lambda n: f"Label {n}")


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand

    label = factory.SubFactory(LabelFactory)
    name = factory.Sequence(lambda n: f"Brand {n}")
    ext_brand_id = factory.Sequence(lambda n: f"brand-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-123456!")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffRole

    user = factory.SubFactory(UserFactory)
    label = factory.SubFactory(LabelFactory)
    role = Role.ADMIN


class PlayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Player

    brand = factory.SubFactory(BrandFactory)
    label = factory.LazyAttribute(lambda p: p.brand.label)
    user_ext_id = factory.Sequence(lambda n: f"player-{n}")
    core_username = factory.Sequence(lambda n: f"nick{n}")
    core_wallet_currency = "EUR"
    core_user_language = "EN"
    user_country = "MT"
