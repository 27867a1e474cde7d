"""API views of the shared kernel: brands."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from backoffice.api.authentication import request_actor
from backoffice.api.schema import error_responses
from backoffice.models import Brand


class BrandSerializer(serializers.ModelSerializer):
    label_key = serializers.CharField(source="label.label_key", read_only=True, help_text="Public key of the label.")
    label_name = serializers.CharField(source="label.name", read_only=True, help_text="Name of the label.")

    class Meta:
        model = Brand
        fields = ["ext_brand_id", "brand_key", "name", "is_active", "label_key", "label_name", "created_at"]


class ActorScopedMixin:
    """Narrows `queryset` to the caller's labels: the API's use of the one scoping mechanism."""

    queryset = None

    def get_queryset(self):
        return self.queryset.for_actor(request_actor(self.request))


@extend_schema(
    tags=["brands"],
    summary="List the brands of your label",
    responses={200: BrandSerializer(many=True), **error_responses(401, 403)},
)
class BrandListView(ActorScopedMixin, ListAPIView):
    """Brands (sites) of the label the key belongs to, or of the staff user's labels."""

    queryset = Brand.objects.select_related("label")
    serializer_class = BrandSerializer
    pagination_class = None
