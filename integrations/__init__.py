"""Integrations: everything that crosses the wire (partner API ingest, gateways, widget, pixel)."""
