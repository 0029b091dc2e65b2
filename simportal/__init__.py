"""Simulated Bitrix24 portal (loopback HTTP server) for testing and benchmarking the dlt connector.

Behaviour follows docs/bitrix24-api-notes.md (the facts about Bitrix24 REST this repository relies on).

    from simportal import SimPortal
    with SimPortal(size=1000, seed=42, rate_limit=None) as p:
        url = p.webhook_url
"""
from .limits import default_cost
from .portal import ALL_SCOPES, Options, SimPortal, Webhook

__all__ = ["SimPortal", "Options", "Webhook", "ALL_SCOPES", "default_cost"]
