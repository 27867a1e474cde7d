"""SmartKarrot-compatible usage endpoints."""
