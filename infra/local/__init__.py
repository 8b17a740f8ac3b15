"""A local runtime for serverless topologies: moto, Lambda-like functions, SQS event source
mappings and an API Gateway front door (docs/local-runtime.md).

    from infra.local import LocalRuntime
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.local.auth import Client
    from infra.local.runtime import Faults, LocalRuntime

__all__ = ["Client", "Faults", "LocalRuntime"]


def __getattr__(name: str) -> Any:
    # lazy: `infra.local.state` and `python -m infra.local.moto_server` need none of this
    if name in ("LocalRuntime", "Faults"):
        from infra.local import runtime

        return getattr(runtime, name)
    if name == "Client":
        from infra.local.auth import Client

        return Client
    raise AttributeError(name)
