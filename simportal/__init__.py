"""Simulated Bitrix24 portal (loopback HTTP server) for testing and benchmarking the dlt connector.

Behaviour follows /work/shared/bitrix24-api.md (the project's Bitrix24 REST spec).

    from simportal import SimPortal
    with SimPortal(size=1000, seed=42, rate_limit=None) as p:
        url = p.webhook_url
"""
from .limits import default_cost
from .portal import ALL_SCOPES, Options, SimPortal, Webhook

__all__ = ["SimPortal", "Options", "Webhook", "ALL_SCOPES", "default_cost"]
