"""The dashboard keeps task function names whole in narrow terminals (80-95 columns): it
shortens the modules first (`d.tasks.send_email`, `d.t.send_email`), then drops them."""

from __future__ import annotations

import re

import pytest

from tests.test_top_render import draw
from tests.top_samples import busy_snapshot
from threadmill.top.layout import short_path

FUNCTIONS = ["send_invoice", "resize_image", "sync_stock", "export", "charge_card"]


@pytest.mark.parametrize(
    ("room", "expected"),
    [
        (40, "demo.tasks.send_email"),
        (21, "demo.tasks.send_email"),
        (20, "d.tasks.send_email"),
        (18, "d.tasks.send_email"),
        (17, "d.t.send_email"),
        (14, "d.t.send_email"),
        (13, "send_email"),
        (3, "send_email"),  # the function name stays whole; the table may cut it
    ],
)
def test_short_path_shortens_modules_before_the_function(room, expected):
    assert short_path("demo.tasks.send_email", room) == expected


def test_short_path_keeps_the_last_modules_longest():
    path = "myproject.billing.tasks.send_email"
    assert short_path(path, 26) == "m.billing.tasks.send_email"
    assert short_path(path, 20) == "m.b.tasks.send_email"
    assert short_path(path, 16) == "m.b.t.send_email"
    assert short_path("send_email", 4) == "send_email"


@pytest.mark.parametrize("width", range(80, 96))
def test_every_task_function_name_is_whole_at_80_to_95_columns(width):
    text = draw(busy_snapshot(), width)
    for function in FUNCTIONS:
        # whole: not cut by an ellipsis, and not a prefix of a cut word
        assert re.search(rf"(^|[\s.]){function}(\s|$)", text, re.M), (width, function, text)
    assert not re.search(r"shop\.t\w*…", text), text  # never "shop.tasks…"
