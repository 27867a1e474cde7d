"""SmartKarrot-compatible financial endpoints."""
