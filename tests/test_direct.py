"""Direct webhook routes match the path the app is mounted to route, as Starlette's router does."""

from __future__ import annotations

import pytest

from bot.direct import route_path


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/sms/inbound", "", "/sms/inbound"),
        ("/csat/sms/inbound", "/csat", "/sms/inbound"),
        ("/csat", "/csat", ""),
        ("/csatx/sms/inbound", "/csat", "/csatx/sms/inbound"),  # not under the root
        ("/other/sms/inbound", "/csat", "/other/sms/inbound"),
    ],
)
def test_route_path_drops_the_root_path_only_at_a_segment_boundary(
    path: str, root: str, expected: str
) -> None:
    assert route_path({"type": "http", "path": path, "root_path": root}) == expected
