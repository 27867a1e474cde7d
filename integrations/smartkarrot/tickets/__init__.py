"""SmartKarrot-compatible tickets endpoints."""
