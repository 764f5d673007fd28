"""How long something took, as staff read it in the order list and the ticket queue."""

from datetime import timedelta

import pytest

from portal.shared.formatting import duration_label


@pytest.mark.parametrize(("delta", "words"), [
    (timedelta(seconds=-5), "menos de 1 min"), (timedelta(seconds=59), "menos de 1 min"),
    (timedelta(minutes=42), "42 min"), (timedelta(hours=1), "1 h"), (timedelta(hours=2, minutes=5), "2 h 05 min"),
    (timedelta(hours=23, minutes=59), "23 h 59 min"), (timedelta(days=3), "3 d"),
    (timedelta(days=3, hours=4, minutes=30), "3 d 4 h"),
])
def test_durations_in_words(app_ctx, delta, words):
    assert duration_label(delta) == words
