"""A toy API function (its own code directory): answers with the request it was given."""

import json
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> Any:
    headers = event.get("headers") or {}
    if "X-Sleep" in headers:
        time.sleep(float(headers["X-Sleep"]))
    seen = {
        key: event[key]
        for key in ("body", "isBase64Encoded", "headers", "multiValueHeaders", "resource")
    }
    return {"statusCode": 200, "body": json.dumps(seen)}
