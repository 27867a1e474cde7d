"""The event stream: `manage.py stream_consume` reads each active StreamSource's RabbitMQ queue and ingests its events.

- `config`: a source as its consumer sees it; its broker URL without credentials.
- `parse`: what a message may hold (one event, a JSON array of events or {"events": [...]}).
- `deadletter`: the dead-letter queue of a source, published to with confirms.
- `consumer`: one source's consumer; a message is acknowledged only after its events are committed.
- `status`: the source's counters and last error, written in one UPDATE a second.
- `supervisor`: the process: a consumer thread per active source, re-read periodically, stopped gracefully.
"""
