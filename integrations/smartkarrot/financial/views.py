"""SmartKarrot-compatible financial endpoints (reference/smartkarrot-api.txt, "Financial Data Integration"):

    POST   orders                                      create or update an order by its orderId
    DELETE orders/{id}                                 delete an order (body or query: appId)
    POST   app-financial-data                          create or update an app's logo churn tolerance
    DELETE app-financial-data/{appId}                  delete it
    POST   account-financial-data                      create or update an account's start date and ARR target
    DELETE account-financial-data/{customerAccountId}  delete it (body or query: appId)

Every answer is the envelope: `{"status": "SUCCESS"}` (200) when done. See docs/financial.md.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from backoffice.errors import NotFound
from crm.services import financial as services
from integrations.smartkarrot.envelope import SCHEMA_TAG, EnvelopeSerializer, SmartKarrotView, success
from integrations.smartkarrot.financial import serializers as inputs
from integrations.smartkarrot.schema import EnvelopeAutoSchema, envelope_responses

APP_ID_QUERY = OpenApiParameter(
    "appId", OpenApiTypes.STR, OpenApiParameter.QUERY, description="SmartKarrot App ID, if not in the body."
)


def _validated(serializer_class: type[serializers.Serializer], data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _app_id(request) -> str:
    """The appId of a DELETE: in its JSON body as the reference shows, or in the query for clients that send none."""
    data = request.data
    in_body = isinstance(data, dict) and "appId" in data
    if not in_body and (not data or isinstance(data, dict)) and "appId" in request.query_params:
        data = {"appId": request.query_params["appId"]}
    return _validated(inputs.AppIdSerializer, data)["appId"]


def _path_id(value: str, field: str) -> str:
    if len(value) > inputs.ID_LENGTH:  # no such id can exist
        raise NotFound(f"No object with this {field}.")
    return value


class FinancialView(SmartKarrotView):
    schema = EnvelopeAutoSchema()


class OrdersView(FinancialView):
    @extend_schema(
        tags=[SCHEMA_TAG],
        operation_id="sk_financial_order_upsert",
        summary="Create or update an order",
        description="Creates the order, or updates every field of the order with this orderId. Concurrent calls for "
        "the same orderId never fail and never duplicate it: the last to arrive stays.",
        request=inputs.OrderInputSerializer,
        responses={200: EnvelopeSerializer, **envelope_responses(400)},
    )
    def post(self, request):
        data = _validated(inputs.OrderInputSerializer, request.data)
        services.order_upsert(
            label_id=self.label_id,
            order_id=data["orderId"],
            account_id=data["customerAccountId"],
            app_id=data["appId"],
            org_product_id=data["orgProductId"],
            status=data["status"],
            amount=data["amount"],
            effective_date=data["effectiveDate"],
            end_date=data["endDate"],
        )
        return success()


class OrderView(FinancialView):
    @extend_schema(
        tags=[SCHEMA_TAG],
        operation_id="sk_financial_order_delete",
        summary="Delete an order",
        description="Deletes the order with this id in the app named by `appId` (JSON body, or query).",
        request=inputs.AppIdSerializer,
        parameters=[
            OpenApiParameter("order_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The order's orderId."),
            APP_ID_QUERY,
        ],
        responses={200: EnvelopeSerializer, **envelope_responses(400, 404)},
    )
    def delete(self, request, order_id: str):
        app_id = _app_id(request)
        services.order_delete(label_id=self.label_id, order_id=_path_id(order_id, "orderId"), app_id=app_id)
        return success()


class AppFinancialView(FinancialView):
    @extend_schema(
        tags=[SCHEMA_TAG],
        operation_id="sk_financial_app_upsert",
        summary="Create or update an app's financial configuration",
        description="Sets the app's logo churn tolerance: the monthly logo churn rate above which the dashboards "
        "flag a month.",
        request=inputs.AppFinancialInputSerializer,
        responses={200: EnvelopeSerializer, **envelope_responses(400)},
    )
    def post(self, request):
        data = _validated(inputs.AppFinancialInputSerializer, request.data)
        services.app_financial_upsert(
            label_id=self.label_id, app_id=data["appId"], logo_churn_tolerance=data["logoChurnTolerance"]
        )
        return success()


class AppFinancialDetailView(FinancialView):
    @extend_schema(
        tags=[SCHEMA_TAG],
        operation_id="sk_financial_app_delete",
        summary="Delete an app's financial configuration",
        description="Deletes the app's logo churn tolerance. No body is needed.",
        request=None,
        parameters=[OpenApiParameter("app_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The appId.")],
        responses={200: EnvelopeSerializer, **envelope_responses(404)},
    )
    def delete(self, request, app_id: str):
        services.app_financial_delete(label_id=self.label_id, app_id=_path_id(app_id, "appId"))
        return success()


class AccountFinancialView(FinancialView):
    @extend_schema(
        tags=[SCHEMA_TAG],
        operation_id="sk_financial_account_upsert",
        summary="Create or update an account's financial configuration",
        description="Sets the customer account's start date and ARR target (the account is created if unknown).",
        request=inputs.AccountFinancialInputSerializer,
        responses={200: EnvelopeSerializer, **envelope_responses(400)},
    )
    def post(self, request):
        data = _validated(inputs.AccountFinancialInputSerializer, request.data)
        services.account_financial_upsert(
            label_id=self.label_id,
            account_id=data["customerAccountId"],
            app_id=data["appId"],
            account_start_date=data["accountStartDate"],
            arr_target=data["arrTarget"],
        )
        return success()


class AccountFinancialDetailView(FinancialView):
    @extend_schema(
        tags=[SCHEMA_TAG],
        operation_id="sk_financial_account_delete",
        summary="Delete an account's financial configuration",
        description="Resets the account's start date and ARR target; `appId` in the JSON body (or query).",
        request=inputs.AppIdSerializer,
        parameters=[
            OpenApiParameter(
                "account_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The customerAccountId."
            ),
            APP_ID_QUERY,
        ],
        responses={200: EnvelopeSerializer, **envelope_responses(400, 404)},
    )
    def delete(self, request, account_id: str):
        app_id = _app_id(request)
        services.account_financial_delete(
            label_id=self.label_id, account_id=_path_id(account_id, "customerAccountId"), app_id=app_id
        )
        return success()
