"""The OpenAPI schema of the SmartKarrot-compatible family: every answer the project's AutoSchema documents on all
operations (400, 401, 403, 406, 429, 503; 404 with path parameters; 413, 415 with a body) is documented in the
family's envelope (`Envelope`), the shape those endpoints really answer, instead of Pitboss's `Error`."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse

from backoffice.api.schema import AutoSchema


class SmartKarrotAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        from integrations.smartkarrot.envelope import EnvelopeSerializer

        responses = SpectacularAutoSchema._get_response_bodies(self, direction)
        for status, description in self._shared_errors().items():
            if str(status) not in responses:
                response = OpenApiResponse(EnvelopeSerializer, description=description)
                responses[str(status)] = self._get_response_for_code(response, str(status), direction=direction)
        return dict(sorted(responses.items()))
