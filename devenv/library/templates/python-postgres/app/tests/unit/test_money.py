"""How the page writes amounts of money (app.money)."""

import pytest

from app import money


@pytest.mark.parametrize("cents, shown", [
    (0, "0.00"), (5, "0.05"), (1234, "12.34"), (100, "1.00"), (123456, "1,234.56"),
    (100000000, "1,000,000.00"), (-250, "-2.50"),
])
def test_formats_cents(cents, shown):
    assert money(cents) == shown
