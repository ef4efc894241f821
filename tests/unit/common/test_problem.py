"""services.common.problem: RFC 9457 problem details."""

from __future__ import annotations

import orjson

from services.common.problem import CONTENT_TYPE, PROBLEM_TYPE_BASE, problem


def test_problem_status_content_type_and_body():
    resp = problem(422, "invalid-mention", "The mention is not valid", "2 fields are invalid",
                   errors=[{"pointer": "/channel", "detail": "is required"}])
    assert resp.status == 422
    assert resp.content_type == "application/problem+json" == CONTENT_TYPE
    assert orjson.loads(resp.body) == {
        "type": PROBLEM_TYPE_BASE + "invalid-mention",
        "title": "The mention is not valid",
        "status": 422,
        "detail": "2 fields are invalid",
        "errors": [{"pointer": "/channel", "detail": "is required"}],
    }


def test_problem_type_is_an_absolute_uri():
    body = orjson.loads(problem(400, "bad-json", "Body is not JSON").body)
    assert body["type"].startswith("https://")
    assert body["type"].endswith("/bad-json")


def test_problem_without_detail_omits_it():
    body = orjson.loads(problem(415, "unsupported-media-type", "Use application/json").body)
    assert "detail" not in body
    assert body["status"] == 415


def test_problem_headers_are_passed_through():
    resp = problem(503, "overloaded", "Try again shortly", headers={"Retry-After": "5"}, retry_after_s=5)
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "5"
    assert orjson.loads(resp.body)["retry_after_s"] == 5
