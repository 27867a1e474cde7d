"""The one HTTP base of operator integrations: each failure sorted into what the caller does about it, and logs that
name the call by route, never a body, a URL or a header."""

from __future__ import annotations

import logging

import httpx
import pytest

from integrations import http
from integrations.bonus_api.client import BonusApiClient
from integrations.http import HttpClient, PermanentError, TransientError, UnknownOutcome


def _client(monkeypatch, handler) -> HttpClient:
    """The operator's side is what leaves the machine: here it is a function answering each request."""
    monkeypatch.setattr(http, "TRANSPORT", httpx.MockTransport(handler))
    return BonusApiClient(base_url="https://operator.example/api", headers={"Authorization": "Bearer s3cret"})


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, TransientError), (503, TransientError), (429, TransientError), (408, TransientError),
     (400, PermanentError), (401, PermanentError), (404, PermanentError), (409, PermanentError),
     (422, PermanentError)],
)  # fmt: skip
def test_answers_are_sorted_into_transient_and_permanent(monkeypatch, status, error):
    client = _client(monkeypatch, lambda request: httpx.Response(status, json={"code": "x", "message": "why"}))
    with pytest.raises(error) as raised:
        client.request("POST", "/bonuses", route="issue", json={})
    assert (raised.value.status, raised.value.body, raised.value.message) == (
        status, {"code": "x", "message": "why"}, f"HTTP {status}: why",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (httpx.ConnectError("refused"), TransientError),
        (httpx.ConnectTimeout("slow"), TransientError),
        (httpx.ReadTimeout("no answer"), UnknownOutcome),
        (httpx.RemoteProtocolError("dropped"), UnknownOutcome),
        (httpx.WriteTimeout("half sent"), UnknownOutcome),
    ],
)
def test_a_call_that_may_have_been_acted_on_is_an_unknown_outcome(monkeypatch, exc, error):
    def handler(request):
        raise exc

    with pytest.raises(error):
        _client(monkeypatch, handler).request("POST", "/bonuses", route="issue", json={})


def test_a_2xx_answer_without_json_is_read_as_text(monkeypatch):
    client = _client(monkeypatch, lambda request: httpx.Response(200, text="ok"))
    assert client.request("GET", "/catalogue", route="catalogue").body == {"text": "ok"}


def test_the_secret_goes_in_the_header_and_the_key_in_both(monkeypatch):
    seen = {}

    def handler(request):
        seen.update(auth=request.headers["Authorization"], key=request.headers["Idempotency-Key"], url=str(request.url))
        return httpx.Response(201, json={"operator_bonus_id": "op-1", "status": "issued"})

    issued = _client(monkeypatch, handler).issue({"idempotency_key": "pb-1", "bonus_code": "X"})
    assert seen == {"auth": "Bearer s3cret", "key": "pb-1", "url": "https://operator.example/api/bonuses"}
    assert (issued.operator_bonus_id, issued.status, issued.http_status) == ("op-1", "issued", 201)


def test_a_lookup_404_is_none_and_a_2xx_without_an_operator_id_is_refused(monkeypatch):
    assert _client(monkeypatch, lambda request: httpx.Response(404, json={})).lookup("pb/1?x") is None
    with pytest.raises(PermanentError, match="operator_bonus_id"):
        _client(monkeypatch, lambda request: httpx.Response(200, json={"status": "issued"})).lookup("pb-1")


def test_logs_name_the_route_and_never_a_body_url_or_secret(monkeypatch, caplog):
    client = _client(monkeypatch, lambda request: httpx.Response(500, json={"user_ext_id": "u-secret-42"}))
    with caplog.at_level(logging.DEBUG), pytest.raises(TransientError):
        client.issue({"idempotency_key": "pb-1", "user_ext_id": "u-secret-42", "bonus_code": "X"})
    text = caplog.text + " ".join(str(r.msg) for r in caplog.records)
    assert "route" in text
    assert "issue" in text
    for leak in ("u-secret-42", "s3cret", "operator.example", "pb-1"):
        assert leak not in text
