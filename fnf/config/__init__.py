"""Settings: defaults < .env < environment < command-line flags, validated before anything runs.

``settings`` builds them (``load_settings``); ``values`` reads one value (durations, numbers,
URLs, the .env file); ``airtable`` and ``alerts`` validate their own groups.
"""

from __future__ import annotations

from fnf.config.airtable import AirtableSettings
from fnf.config.alerts import AlertSettings
from fnf.config.settings import Overrides, Settings, load_settings
from fnf.config.values import DEFAULTS, MAX_CONCURRENCY, SECRET_SETTINGS, STORES, load_environ, parse_duration
from fnf.handlers import HandlerSpec

__all__ = [
    "DEFAULTS",
    "MAX_CONCURRENCY",
    "SECRET_SETTINGS",
    "STORES",
    "AirtableSettings",
    "AlertSettings",
    "HandlerSpec",
    "Overrides",
    "Settings",
    "load_environ",
    "load_settings",
    "parse_duration",
]
