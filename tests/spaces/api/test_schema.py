"""schemathesis over ``/openapi.json`` (bounded: a few generated requests per operation, valid and invalid): no 5xx,
and every answer matches the schema (a documented status code and content type, a body of the documented shape).

schemathesis' own pytest loader (``schemathesis.pytest.from_fixture``) reads ``Function._nodeid``, which pytest 9 no
longer has, so the operations are driven here with its strategies and checks directly."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

EXAMPLES = 2  # per operation and mode


def test_api_answers_match_the_schema(api):
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.generate], database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case) -> None:
                case.call_and_validate(headers=api.headers, timeout=120, checks=checks)

            try:
                check()
            except Unsatisfiable:  # no invalid request exists (a GET without parameters)
                continue
            except BaseException as err:  # noqa: BLE001 - collected (hypothesis raises groups): every operation is tried
                if isinstance(err, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.label} ({mode.value}): {str(err)[:600]}")
    assert not failures, "\n\n".join(failures)
    good = schemathesis.openapi.from_url(f"{api.url}/openapi.json")  # the server still serves after all of it
    assert good is not None
