"""Intelitics-compatible affiliate tracking (reference/intelitics-smart-pixels.txt): tracking links and the pixel."""
