"""The scraper's transport: default timeouts, no urllib3 retries."""

from __future__ import annotations

from chalicelib.transport import TimeoutHTTPAdapter, build_session


def test_session_mounts_a_timeout_adapter_without_retries():
    session = build_session(connect_timeout=2, read_timeout=7)
    for prefix in ("http://", "https://"):
        adapter = session.get_adapter(prefix + "portal.example")
        assert isinstance(adapter, TimeoutHTTPAdapter)
        assert adapter.timeout == (2, 7)
        assert adapter.max_retries.total == 0


def test_session_sends_the_user_agent_and_sizes_the_pool():
    session = build_session(connect_timeout=1, read_timeout=1, pool_size=8, user_agent="x/2")
    assert session.headers["User-Agent"] == "x/2"
    assert session.get_adapter("http://portal.example")._pool_maxsize == 8


def test_adapter_applies_the_default_timeout_only_when_none_is_given(monkeypatch):
    seen = []
    adapter = TimeoutHTTPAdapter((1, 2))
    monkeypatch.setattr(
        "requests.adapters.HTTPAdapter.send", lambda self, request, **kw: seen.append(kw["timeout"])
    )
    adapter.send(object(), timeout=None)
    adapter.send(object(), timeout=9)
    assert seen == [(1, 2), 9]
