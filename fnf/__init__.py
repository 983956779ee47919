"""fnf: fire-and-forget batch runner for cron-driven, per-client work."""

from __future__ import annotations

__version__ = "0.1.0"
