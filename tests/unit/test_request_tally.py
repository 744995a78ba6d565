"""Requests counted in process reach /metrics as if each had been observed on its own."""

from __future__ import annotations

from prometheus_client import REGISTRY

from ephemail.core.metrics import RequestTally, exposition, requests


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_flush_adds_counts_buckets_and_sums() -> None:
    route = "/test/tally-flush"
    tally = RequestTally()
    for seconds in (0.0005, 0.003, 0.003, 20.0):
        tally.record(route, "GET", 200, seconds)
    tally.record(route, "GET", 404, 0.0005)
    assert sample("ephemail_api_requests_total", route=route, method="GET", status="200") == 0

    tally.flush()
    tally.flush()  # nothing new: nothing added twice

    assert sample("ephemail_api_requests_total", route=route, method="GET", status="200") == 4
    assert sample("ephemail_api_requests_total", route=route, method="GET", status="404") == 1
    buckets = {"0.001": 2, "0.0025": 2, "0.005": 4, "10.0": 4, "+Inf": 5}
    for le, count in buckets.items():
        assert sample("ephemail_api_request_seconds_bucket", route=route, le=le) == count
    assert sample("ephemail_api_request_seconds_count", route=route) == 5
    assert abs(sample("ephemail_api_request_seconds_sum", route=route) - 20.007) < 1e-9


def test_a_scrape_shows_what_this_process_counted_until_then() -> None:
    route = "/test/tally-scrape"
    requests().record(route, "GET", 200, 0.002)
    line = f'ephemail_api_requests_total{{method="GET",route="{route}",status="200"}} 1.0'
    assert line.encode() in exposition().splitlines()
