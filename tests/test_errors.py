"""HttpError: codes, seed messages, builtin bases, pickling."""

from __future__ import annotations

import pickle

import pytest

from netstack import HttpError
from netstack.errors import MESSAGES


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (2300028, "Operation timeout."),
        (2300007, "Failed to connect to the server."),
        (2300047, "The number of redirections reaches the maximum allowed."),
        (2300063, "Maximum file size exceeded."),
        (2300998, "It is not allowed to access this domain."),
    ],
)
def test_codes_carry_the_seed_messages(code: int, message: str) -> None:
    assert HttpError.of(code).message == message
    assert MESSAGES[code] == message


def test_leaves_derive_from_builtins_for_idiomatic_except() -> None:
    assert isinstance(HttpError.of(2300028), TimeoutError)
    assert isinstance(HttpError.of(2300007), ConnectionError)
    assert isinstance(HttpError.parameter("priority: bad"), ValueError)


def test_errors_pickle_with_code_message_and_detail() -> None:
    error = HttpError.of(2300056, "127.0.0.1:80: reset")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.code, copy.message, copy.detail) == (2300056, error.message, error.detail)


def test_str_shows_code_message_and_detail() -> None:
    assert str(HttpError.of(2300028, "read 5s")) == "[2300028] Operation timeout. (read 5s)"
    assert str(HttpError.parameter("priority: x")) == "[401] Parameter error. priority: x"


def test_unknown_code_falls_back_to_unknown_error_message() -> None:
    assert HttpError(2300123).message == "Unknown error."
