"""The Bonus API client: HTTP only (docs/bonus-api.md). What to do with an answer is crm.services.bonuses' business."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from integrations.http import HttpClient, PermanentError, Response
from integrations.models import BonusApiConnection


@dataclass(frozen=True)
class CatalogueItem:
    code: str
    name: str
    type: str
    public_name: str = ""
    amount: str | None = None
    icon_url: str = ""
    expiry_days: int | None = None


@dataclass(frozen=True)
class Issued:
    """The operator's answer to an issue or a lookup of a bonus it holds."""

    operator_bonus_id: str
    status: str  # issued | redeemed | redeem_failed
    http_status: int
    body: Any


class BonusApiClient(HttpClient):
    provider = "bonus_api"

    @classmethod
    def for_connection(cls, connection: BonusApiConnection) -> BonusApiClient:
        return cls(
            base_url=connection.base_url,
            headers={"Authorization": f"Bearer {connection.secret}"},
            connect_timeout=float(connection.connect_timeout_seconds),
            read_timeout=float(connection.read_timeout_seconds),
        )

    def catalogue(self) -> list[CatalogueItem]:
        """GET /catalogue: the bonuses the operator offers. A malformed answer is a PermanentError."""
        answer = self.request("GET", "/catalogue", route="catalogue")
        try:
            return catalogue_items(answer.body)
        except ValueError as exc:
            raise PermanentError(str(exc), status=answer.status, body=answer.body) from None

    def issue(self, body: dict[str, Any]) -> Issued:
        """POST /bonuses with the bonus's idempotency key (body and header): 201 applied, 200 already applied."""
        answer = self.request(
            "POST", "/bonuses", route="issue", json=body, headers={"Idempotency-Key": str(body["idempotency_key"])}
        )
        return _issued(answer)

    def lookup(self, idempotency_key: str) -> Issued | None:
        """GET /bonuses/{idempotency_key}: the bonus the operator applied under this key, or None (404)."""
        try:
            answer = self.request("GET", f"/bonuses/{quote(idempotency_key, safe='')}", route="lookup")
        except PermanentError as exc:
            if exc.status == 404:
                return None
            raise
        return _issued(answer)


def _issued(answer: Response) -> Issued:
    body = answer.body if isinstance(answer.body, dict) else {}
    operator_id = body.get("operator_bonus_id")
    if not operator_id:
        raise PermanentError('The answer has no "operator_bonus_id".', status=answer.status, body=answer.body)
    status = str(body.get("status") or "issued")
    return Issued(operator_bonus_id=str(operator_id)[:128], status=status, http_status=answer.status, body=body)


def catalogue_items(body: Any) -> list[CatalogueItem]:
    """A catalogue answer's items; ValueError naming what is malformed."""
    items = body.get("bonuses") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ValueError('The catalogue answer has no "bonuses" list.')
    return [_catalogue_item(item) for item in items]


def _catalogue_item(item: Any) -> CatalogueItem:
    if not isinstance(item, dict) or not item.get("code") or not item.get("name"):
        raise ValueError('Every catalogue item needs "code" and "name".')
    amount = item.get("amount")
    expiry = item.get("expiry_days")
    return CatalogueItem(
        code=str(item["code"])[:128],
        name=str(item["name"])[:120],
        type=str(item.get("type") or ""),
        public_name=str(item.get("public_name") or "")[:200],
        amount=None if amount is None else str(amount),
        icon_url=str(item.get("icon_url") or "")[:200],
        expiry_days=expiry if isinstance(expiry, int) and not isinstance(expiry, bool) and expiry > 0 else None,
    )
