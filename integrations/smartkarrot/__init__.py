"""SmartKarrot-compatible endpoints (reference/smartkarrot-api.txt): an existing client changes only its base host.

`envelope.py` is the family's common ground: Basic `apikey:<key>` authentication with Pitboss's per-label keys, and
the `{"status": "SUCCESS" | "ERROR" | "INVALID_INPUT", …}` envelope on every answer, errors included. The three
sub-packages (`usage`, `financial`, `tickets`) each hold the views and urls of one part of the reference.
"""
