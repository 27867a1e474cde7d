"""The OpenAPI schema of the SmartKarrot-compatible family: every answer the project's AutoSchema documents on all
operations (400, 401, 403, 406, 429, 503; 404 with path parameters; 413, 415 with a body) is documented in the
family's envelope (`Envelope`), the shape those endpoints really answer, instead of Pitboss's `Error`."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse

from backoffice.api.schema import BODY_ERRORS, AutoSchema

ENVELOPE_ERRORS = {
    400: "INVALID_INPUT: the body is not a JSON object or a field is invalid; `errors` names each field. Nothing "
    "was changed.",
    401: "ERROR: missing, unknown or revoked API key (Basic `apikey:<key>`).",
    403: "ERROR: authenticated, but not with a partner API key.",
    404: "ERROR: no such object in your label.",
    405: "ERROR: the method is not one the reference lists for this path.",
    406: "ERROR: the `Accept` header asks for something other than JSON.",
    409: "ERROR: a conflict (a stale `version`, or an `idempotencyId` already used for another body); nothing was "
    "changed.",
    413: "ERROR: the body is over the size limit.",
    415: "ERROR: the body is not `application/json`.",
    429: "ERROR: too many requests: retry after `Retry-After` seconds.",
    503: "ERROR: the service is busy: retry after `Retry-After` seconds.",
}


def envelope_responses(*statuses: int) -> dict:
    """OpenAPI responses for error statuses particular to an endpoint, in the envelope."""
    from integrations.smartkarrot.envelope import EnvelopeSerializer

    return {status: OpenApiResponse(EnvelopeSerializer, description=ENVELOPE_ERRORS[status]) for status in statuses}


class EnvelopeAutoSchema(AutoSchema):
    """Pitboss's schema class, with the shared error answers (and `extra_errors`) documented in the envelope."""

    extra_errors: tuple[int, ...] = ()

    def _shared_errors(self) -> dict[int, str]:
        errors = super()._shared_errors()
        if self.method == "DELETE":  # the family's deletes may name what they delete in a JSON body
            errors.update(BODY_ERRORS)
        return errors

    def _get_response_bodies(self, direction="response"):
        responses = SpectacularAutoSchema._get_response_bodies(self, direction)
        for status, response in envelope_responses(*self._shared_errors(), *self.extra_errors).items():
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(response, str(status), direction=direction)
        return dict(sorted(responses.items()))
