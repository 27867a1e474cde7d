"""The store in the admin: categories and items are configuration (admin, manager); purchases are a read-only list."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.utils import timezone
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.models import Perm
from crm.models import BonusTemplate, Segment
from gamification.models import Level, StoreCategory, StoreItem, StorePurchase
from gamification.services.store import item_is_on_sale


@admin.register(StoreCategory)
class StoreCategoryAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    list_display = ("name", "position", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter),)
    fields = ("label", "name", "position")


@admin.register(StoreItem)
class StoreItemAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    # Categories and levels offered are those of labels where the user may change configuration; clean() then
    # refuses a category or level of another label than the item's.
    scoped_foreign_keys = {
        **LabelScopedAdmin.scoped_foreign_keys,
        "category": StoreCategory,
        "target_level": Level,
        "audience": Segment,
        "bonus_template": BonusTemplate,
    }
    list_display = ("name", "type", "price_display", "stock_display", "cap_display", "is_active", "category", "label")
    list_select_related = ("label", "category")
    list_filter = (("label", ScopedRelatedFilter), ("type", ChoicesDropdownFilter), "is_active")
    search_fields = ("name",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("label", "category", "name", "description", "image_url")}),
        ("What it is", {"fields": ("type", "target_level", "bonus_template")}),
        ("Price and limits", {"fields": ("price", "currency", "stock", "cap_count", "cap_period")}),
        ("On sale", {"fields": ("is_active", "active_from", "active_till", "audience")}),
    )
    readonly_fields = ("preview",)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.fieldsets
        return (*self.fieldsets, ("Preview", {"fields": ("preview",)}))

    @display(description="As players see it")
    def preview(self, obj) -> str:
        """The item in plain words: what it is, the price, what is left, the cap, when it is on sale; sales so far."""
        now = timezone.now()
        parts = [f"{obj.price:,} {obj.get_currency_display().lower()}"]
        if obj.type == "change_level" and obj.target_level:
            parts.append(f"sets the level to {obj.target_level.name} (kept until the points pass it)")
        if obj.type == "bonus" and obj.bonus_template:
            parts.append(f"gives the bonus {obj.bonus_template.display_name} (issued by the operator)")
        parts.append("unlimited stock" if obj.stock is None else f"{obj.stock:,} left")
        if obj.cap_count:
            parts.append(
                f"at most {obj.cap_count} per player {'ever' if obj.cap_period == 'ever' else f'a {obj.cap_period}'}"
            )
        if not item_is_on_sale(item=obj, now=now):
            parts.append("not on sale now")
        elif obj.active_till:
            parts.append(f"on sale until {obj.active_till:%Y-%m-%d %H:%M} UTC")
        sold = StorePurchase.objects.filter(item_id=obj.pk).count()
        return format_html(
            '<div data-testid="item-preview"><strong>{}</strong>{}<div class="text-sm">{}</div>'
            '<div class="text-sm text-base-500">{} sold</div></div>',
            obj.name,
            format_html(" · {}", obj.category.name) if obj.category else "",
            " · ".join(parts),
            f"{sold:,}",
        )

    @display(description="Price")
    def price_display(self, obj) -> str:
        return f"{obj.price:,} {obj.currency}"

    @display(description="Stock")
    def stock_display(self, obj) -> str:
        return "unlimited" if obj.stock is None else f"{obj.stock:,}"

    @display(description="Cap")
    def cap_display(self, obj) -> str:
        return "-" if obj.cap_count is None else f"{obj.cap_count} per {obj.cap_period}"


@admin.register(StorePurchase)
class StorePurchaseAdmin(LabelScopedAdmin):
    """Read-only for everyone: purchases are made only through `store_purchase`."""

    list_display = ("created_at", "player", "item", "price", "currency", "status", "key")
    list_select_related = ("player__brand", "item")
    list_filter = (
        ("label", ScopedRelatedFilter),
        ("currency", ChoicesDropdownFilter),
        ("status", ChoicesDropdownFilter),
    )
    search_fields = ("=key",)
    search_help_text = "Exact key"
    show_facets = admin.ShowFacets.NEVER
    actions = None
    readonly_fields = (
        "player",
        "item",
        "price",
        "currency",
        "wallet_entry",
        "status",
        "refund_entry",
        "key",
        "created_at",
    )
