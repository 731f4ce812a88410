"""A misspelt option key: mypy --strict must reject it."""

from __future__ import annotations

import netstack

netstack.create_http().request("http://127.0.0.1:8000/get", {"readTimeOut": 5000})
