"""Shared fixtures. pytest-httpbin provides ``httpbin`` and ``httpbin_secure``."""

from __future__ import annotations
