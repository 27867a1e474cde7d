"""Gamification: wallet ledger, levels, missions and badges, tournaments, store (later issues)."""
