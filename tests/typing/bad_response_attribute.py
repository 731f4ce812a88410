"""A response attribute of another library (requests' status_code): mypy --strict rejects it."""

from __future__ import annotations

import netstack

response = netstack.create_http().request("http://127.0.0.1:8000/get").result()
print(response.status_code)
