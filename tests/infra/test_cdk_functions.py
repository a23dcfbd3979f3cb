"""The Chalice app as Lambda functions: roles, limits, event sources, logs, settings, APIs."""

from __future__ import annotations

from typing import Any

from infra.functions import (
    API,
    AUTHORIZER,
    FUNCTIONS,
    INGEST,
    WORKER,
    WS_CONNECT,
    WS_DISCONNECT,
    WS_MESSAGE,
)
from tests.infra.cfn import ref_id, render

FUNCTION = "AWS::Serverless::Function"


def queue_names(synthesized: Any) -> dict[str, str]:
    """Queue logical id → queue name."""
    return {
        logical_id: r["Properties"]["QueueName"]
        for logical_id, r in synthesized.resources("AWS::SQS::Queue").items()
    }


def sources_of(synthesized: Any, function: str) -> dict[str, dict[str, Any]]:
    """The SQS event sources of ``function``, by queue name."""
    names = queue_names(synthesized)
    return {
        names[ref_id(m["Properties"]["EventSourceArn"])]: m["Properties"]
        for m in synthesized.resources("AWS::Lambda::EventSourceMapping").values()
        if ref_id(m["Properties"]["FunctionName"]) == function
    }


def test_chalice_packages_every_handler_of_app_py_and_infra_configures_each(
    synthesized: Any,
) -> None:
    functions = synthesized.resources(FUNCTION)
    assert set(functions) == set(FUNCTIONS)
    for name, resource in functions.items():
        props = resource["Properties"]
        assert props["Handler"].startswith("app."), name
        assert props["MemorySize"] == FUNCTIONS[name].memory, name
        assert props["CodeUri"]["Key"].endswith(".zip"), "the code is a CDK asset"


def test_every_function_runs_with_a_role_of_its_own_and_no_managed_policies(
    synthesized: Any,
) -> None:
    roles = synthesized.resources("AWS::IAM::Role")
    used = {
        name: ref_id(r["Properties"]["Role"]) for name, r in synthesized.resources(FUNCTION).items()
    }
    assert len(set(used.values())) == len(used), f"a role is shared: {used}"
    for name, role_id in used.items():
        role = roles[role_id]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ], name
        assert "ManagedPolicyArns" not in role, name
        assert "Policies" not in synthesized.props(name), f"{name} has SAM policies"
    assert not synthesized.resources("AWS::IAM::Policy"), "no policy attached outside the roles"


def test_the_worker_consumes_the_one_scrape_queue_capped_at_its_reserved_concurrency(
    synthesized: Any, spec: Any, settings: Any
) -> None:
    worker = synthesized.props(WORKER)
    assert worker["ReservedConcurrentExecutions"] == spec.worker_reserved_concurrency == 3
    assert "Events" not in worker, "chalice's own event source is replaced"
    sources = sources_of(synthesized, WORKER)
    assert list(sources) == [settings.queue_name]
    (source,) = sources.values()
    # The pollers never ask for more than the worker may run: Lambda never throttles it
    assert source["ScalingConfig"]["MaximumConcurrency"] == settings.concurrency
    assert settings.concurrency == worker["ReservedConcurrentExecutions"]
    assert source["BatchSize"] == 1


def test_the_batch_ingest_handler_consumes_the_ingest_queue_with_its_cap(
    synthesized: Any, spec: Any
) -> None:
    sources = sources_of(synthesized, INGEST)
    assert list(sources) == [spec.ingest_source.queue]
    (source,) = sources.values()
    assert source["ScalingConfig"]["MaximumConcurrency"] == spec.ingest_source.max_concurrency
    assert source["BatchSize"] == 1
    assert "Events" not in synthesized.props(INGEST)


def test_no_function_but_the_worker_and_ingest_reads_a_queue(synthesized: Any) -> None:
    consumers = {
        ref_id(m["Properties"]["FunctionName"])
        for m in synthesized.resources("AWS::Lambda::EventSourceMapping").values()
    }
    assert consumers == {WORKER, INGEST}


def test_every_consumed_queue_stays_invisible_at_least_six_times_its_functions_timeout(
    synthesized: Any, settings: Any
) -> None:
    assert synthesized.props(WORKER)["Timeout"] == settings.scrape_timeout_seconds == 300
    assert synthesized.props(INGEST)["Timeout"] == settings.ingest_timeout_seconds
    names = queue_names(synthesized)
    checked = 0
    for mapping in synthesized.resources("AWS::Lambda::EventSourceMapping").values():
        queue_id = ref_id(mapping["Properties"]["EventSourceArn"])
        function = ref_id(mapping["Properties"]["FunctionName"])
        visibility = synthesized.props(queue_id)["VisibilityTimeout"]
        timeout = synthesized.props(function)["Timeout"]
        assert visibility >= 6 * timeout, f"{names[queue_id]}: {visibility} < 6 x {timeout}"
        checked += 1
    assert checked == 2  # the scrape queue and the ingest queue


def test_every_function_has_its_timeout_tracing_and_own_log_group_kept_a_month(
    synthesized: Any,
) -> None:
    groups = synthesized.resources("AWS::Logs::LogGroup")
    seen = set()
    for name, resource in synthesized.resources(FUNCTION).items():
        props, profile = resource["Properties"], FUNCTIONS[name]
        if profile.timeout is not None:
            assert props["Timeout"] == profile.timeout, name
        assert props["Tracing"] == ("Active" if profile.tracing else "PassThrough"), name
        group = ref_id(props["LoggingConfig"]["LogGroup"])
        assert groups[group]["Properties"]["RetentionInDays"] == 30, name
        seen.add(group)
    assert len(seen) == len(FUNCTIONS)


def test_functions_find_queues_websocket_issuer_and_bucket_in_their_environment(
    synthesized: Any, settings: Any
) -> None:
    ids = {name: logical_id for logical_id, name in queue_names(synthesized).items()}
    pool = ref_id(synthesized.body["Outputs"]["UserPoolId"]["Value"])
    client = ref_id(synthesized.body["Outputs"]["UserPoolClientId"]["Value"])
    for name in FUNCTIONS:
        env = synthesized.props(name)["Environment"]["Variables"]
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Raspa", name
        assert env["POWERTOOLS_SERVICE_NAME"] == "raspa", name
        assert ref_id(env["RASPA_QUEUE_URL"]) == ids[settings.queue_name]
        assert ref_id(env["RASPA_INGEST_QUEUE_URL"]) == ids[settings.ingest_queue_name]
        assert env["RASPA_DLQ_NAME"] == settings.dlq_name
        assert not {v for v in env if v.startswith(("RASPA_PRIORITY_", "RASPA_BATCH_QUEUE"))}
        assert (env["RASPA_VIP_SHARE"], env["RASPA_CONCURRENCY"]) == ("6", "3")
        host = "<WebsocketAPI>.execute-api.<AWS::Region>.<AWS::URLSuffix>"
        assert render(env["RASPA_WS_ENDPOINT"]) == f"https://{host}/api"
        assert render(env["RASPA_WS_URL"]) == f"wss://{host}/api"
        assert (
            render(env["RASPA_AUTH_ISSUER"])
            == f"https://cognito-idp.<AWS::Region>.<AWS::URLSuffix>/<{pool}>"
        )
        assert ref_id(env["RASPA_AUTH_CLIENT_ID"]) == client
        assert render(env["RASPA_BATCH_BUCKET"]) == "raspa-batches-<AWS::AccountId>-<AWS::Region>"
        assert env["RASPA_PORTAL_SECRET_NAME"] == settings.portal_secret_name
        assert env["RASPA_SCRAPE_TIMEOUT_SECONDS"] == "300"
        assert "RASPA_REGION" not in env, "the region comes from Lambda's AWS_REGION"


def test_the_websocket_api_routes_connect_messages_and_disconnect_to_their_handlers(
    synthesized: Any,
) -> None:
    (api_id,) = [
        k
        for k, r in synthesized.resources("AWS::ApiGatewayV2::Api").items()
        if r["Properties"]["ProtocolType"] == "WEBSOCKET"
    ]
    integrations = synthesized.resources("AWS::ApiGatewayV2::Integration")
    routes = {}
    for route in synthesized.resources("AWS::ApiGatewayV2::Route").values():
        props = route["Properties"]
        assert ref_id(props["ApiId"]) == api_id
        integration = ref_id(props["Target"]["Fn::Join"][1][1])
        uri = render(integrations[integration]["Properties"]["IntegrationUri"])
        routes[props["RouteKey"]] = uri
    assert set(routes) == {"$connect", "$default", "$disconnect"}
    handlers = {"$connect": WS_CONNECT, "$default": WS_MESSAGE, "$disconnect": WS_DISCONNECT}
    for key, handler in handlers.items():
        assert routes[key].endswith(f":function:<{handler}>/invocations"), key
    (stage,) = synthesized.resources("AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "api"


def test_the_rest_api_is_named_for_its_metrics_traced_and_guarded_by_the_jwt_authorizer(
    synthesized: Any,
) -> None:
    props = synthesized.props("RestAPI")
    assert props["Name"] == synthesized.stack.functions.api_name == "Raspa-api"
    assert props["StageName"] == "api"
    assert props["TracingEnabled"] is True
    body = props["DefinitionBody"]
    authorizer = body["securityDefinitions"]["jwt_auth"]["x-amazon-apigateway-authorizer"]
    assert f"${{{AUTHORIZER}.Arn}}" in render(authorizer["authorizerUri"])
    open_routes = {
        path
        for path, methods in body["paths"].items()
        for method in methods.values()
        if not method.get("security")
    }
    assert open_routes == {"/", "/health"}, "every other route needs a token"
    for methods in body["paths"].values():
        for method in methods.values():
            assert f"${{{API}.Arn}}" in render(method["x-amazon-apigateway-integration"]["uri"])


def test_the_stack_outputs_the_api_websocket_and_page_urls(synthesized: Any) -> None:
    outputs = {k: render(v["Value"]) for k, v in synthesized.body["Outputs"].items()}
    rest = "<RestAPI>.execute-api.<AWS::Region>.<AWS::URLSuffix>"
    assert outputs["ApiUrl"] == f"https://{rest}/api/"
    assert outputs["PageUrl"] == f"https://{rest}/api/"
    assert (
        outputs["WebSocketUrl"]
        == "wss://<WebsocketAPI>.execute-api.<AWS::Region>.<AWS::URLSuffix>/api"
    )
    for name in ("UserPoolId", "UserPoolClientId", "BatchBucketName", "AlertTopicArn"):
        assert outputs[name].startswith("<"), name
    assert "#dashboards:name=" in outputs["DashboardUrl"]
