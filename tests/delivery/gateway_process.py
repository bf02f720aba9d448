"""Serve a gateway configured by the JSON ``GatewayConfig`` in ``argv[1]``; print its URL.

The acceptance tests run gateways as processes of their own so they can
``kill -9`` one mid-stream and start it again on the same port.
"""

from __future__ import annotations

import sys

from praison_push.config import GatewayConfig
from praison_push.server import run_gateway

if __name__ == "__main__":
    config = GatewayConfig.model_validate_json(sys.argv[1])
    run_gateway(config, on_ready=lambda url: print(f"listening on {url}", flush=True))
