"""Admin of the shared kernel."""
