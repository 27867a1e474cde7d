"""OpenAPI of the compatible financial endpoints: every answer, the errors the request pipeline gives included, is the
SmartKarrot envelope, not Pitboss's own error shape (backoffice/api/schema.py documents that one)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse

from backoffice.api.schema import AutoSchema
from integrations.smartkarrot.envelope import EnvelopeSerializer

ENVELOPE_ERRORS = {
    400: "INVALID_INPUT: the body is not a JSON object or a field is invalid; `errors` names each field. Nothing "
    "was changed.",
    401: "ERROR: missing, unknown or revoked API key (Basic `apikey:<key>`).",
    403: "ERROR: authenticated, but not with a partner API key.",
    404: "ERROR: no such object in your label.",
    405: "ERROR: the method is not one the reference lists for this path.",
    413: "ERROR: the body is over the size limit.",
    415: "ERROR: the body is not `application/json`.",
    429: "ERROR: too many requests: retry after `Retry-After` seconds.",
    503: "ERROR: the service is busy: retry after `Retry-After` seconds.",
}


def envelope_responses(*statuses: int) -> dict:
    return {status: OpenApiResponse(EnvelopeSerializer, description=ENVELOPE_ERRORS[status]) for status in statuses}


class EnvelopeAutoSchema(AutoSchema):
    """The shared error answers, documented in the envelope's shape."""

    def _get_response_bodies(self, direction="response"):
        responses = super(AutoSchema, self)._get_response_bodies(direction)
        statuses = [400, 401, 403, 429, 503] + ([404] if "{" in self.path else []) + [413, 415]
        for status in statuses:
            if str(status) not in responses:
                response = OpenApiResponse(EnvelopeSerializer, description=ENVELOPE_ERRORS[status])
                responses[str(status)] = self._get_response_for_code(response, str(status), direction=direction)
        return dict(sorted(responses.items()))
