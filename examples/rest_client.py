"""A small REST client: JSON in and out, PATCH, errors as exceptions.

Start the local origin first (``netstack serve``), then::

    python examples/rest_client.py [BASE_URL]      # default http://127.0.0.1:8000
"""

from __future__ import annotations

import sys

import netstack


def main(base: str) -> int:
    """Create, update and read back a resource on ``base``; 0 on success."""
    http = netstack.create_http
    created = http().request(f"{base}/post", {"method": "POST", "extraData": {"name": "demo"}})
    body = created.result(timeout=10).raise_for_status().json()
    print("created:", body["json"])

    patch = {"method": netstack.RequestMethod.PATCH, "extraData": {"name": "renamed"}}
    updated = http().request(f"{base}/patch", patch).result(timeout=10)
    print("updated:", updated.response_code, updated.json()["json"])

    gone = http().request(f"{base}/status/404").result(timeout=10)
    try:
        gone.raise_for_status()
    except netstack.HttpError as error:
        print("as expected:", error.code, error.message)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
