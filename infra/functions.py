"""The Chalice app as Lambda functions: each with its own role, log group, settings and sources.

``chalice.cdk.Chalice`` packages ``app.py`` into a SAM template; this module then gives
every function it finds a least-privilege role (chalice's shared role is never created),
its environment, limits (reserved concurrency included) and tracing, replaces chalice's
SQS event sources with the mappings ``infra.spec`` declares (the scrape queue's, capped at
the worker's reserved concurrency, and the ingest queue's), and throttles the REST and
WebSocket stages.

Longer than 400 lines: one construct configures every function of the packaged app (roles,
environment, limits, sources, both API stages) over the same SAM resources; its packaging
step is in ``infra.packaging``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Mapping

from aws_cdk import Annotations, Aws, CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo

from chalicelib.config import Settings
from infra.access import Access
from infra.auth import Auth
from infra.data import Data
from infra.packaging import API_STAGE, function_ids, package
from infra.spec import EventSourceSpec, Resources

__all__ = [
    "API_STAGE",
    "FUNCTIONS",
    "INFRA_SETTINGS",
    "REST_API",
    "Functions",
    "function_environment",
    "reserved_concurrency",
]

#: Chalice must be told some role when it does not manage them; every function gets its own.
ROLE_PLACEHOLDER = "arn:aws:iam::123456789012:role/raspa-role-set-by-infra"
#: Chalice's logical ids of the REST API (SAM's AWS::Serverless::Api) and WebSocket stage.
REST_API, WEBSOCKET_STAGE = "RestAPI", "WebsocketAPIStage"
#: Settings only the stack reads (API Gateway, WAF and Lambda limits): keeping them out of
#: the functions' environment lets a changed limit deploy without updating every function.
INFRA_SETTINGS = (
    "api_rate_limit",
    "api_burst_limit",
    "ws_rate_limit",
    "ws_burst_limit",
    "waf_rate_limit",
    "api_reserved_concurrency",
    "authorizer_reserved_concurrency",
    "websocket_reserved_concurrency",
)
#: Settings that are not environment variables (the region comes from Lambda's AWS_REGION).
_NOT_IN_ENVIRONMENT = ("region", "extra", *INFRA_SETTINGS)
#: Log retention of every function's log group.
_LOG_RETENTION = logs.RetentionDays.ONE_MONTH

API, AUTHORIZER = "APIHandler", "JwtAuth"
WS_CONNECT, WS_MESSAGE, WS_DISCONNECT = (
    "WebsocketConnect",
    "WebsocketMessage",
    "WebsocketDisconnect",
)
WORKER, INGEST = "ScrapeWorker", "BatchIngest"


#: Lambda's runtime is the Python that runs ``chalice package``: the zip's compiled wheels
#: (lxml, cryptography) are built for it, so no function can move to a newer runtime alone.
_RUNTIME_SUPPRESSION = NagPackSuppression(
    id="AwsSolutions-L1",
    reason="The runtime is the Python the project packages with (3.11, a supported Lambda "
    "runtime): the zip's compiled wheels (lxml, cryptography) are built for it, so the "
    "runtime moves with the project's Python, for every function at once.",
)
#: What the REST API (SAM's RestApi and its stage) does without, and why.
_REST_API_SUPPRESSIONS = [
    NagPackSuppression(
        id="AwsSolutions-APIG1",
        reason="Access logs need the account-wide API Gateway CloudWatch Logs role (one per "
        "region, AWS::ApiGateway::Account), which one app's stack should not take over; the "
        "API function logs every error as JSON, and API Gateway's metrics (4xx, 5xx, "
        "latency) are on the dashboard, 5xx alarmed.",
    ),
    NagPackSuppression(
        id="AwsSolutions-APIG6",
        reason="Execution logging needs the same account-wide CloudWatch Logs role as access "
        "logging (see APIG1); the API function logs every error it answers, as JSON.",
    ),
    NagPackSuppression(
        id="AwsSolutions-APIG2",
        reason="Chalice declares no request models; every handler validates its input itself "
        "(OS number pattern, JSON object bodies of at most 1 KB) and answers 400/413 with "
        "the rule that failed (README, 'Hardened input').",
    ),
]


@dataclass(frozen=True)
class Profile:
    """How one function runs; ``timeout`` None means the spec says (worker, ingest)."""

    memory: int
    timeout: int | None = None
    tracing: bool = False


#: Every function app.py declares, by chalice's logical id. A new handler must be added here
#: (and given its permissions in ``Functions._statements``) or the synth fails.
FUNCTIONS: Mapping[str, Profile] = {
    API: Profile(memory=512, timeout=30, tracing=True),
    AUTHORIZER: Profile(memory=256, timeout=10),
    WS_CONNECT: Profile(memory=256, timeout=10),
    WS_MESSAGE: Profile(memory=256, timeout=10),
    WS_DISCONNECT: Profile(memory=256, timeout=10),
    WORKER: Profile(memory=512, tracing=True),
    INGEST: Profile(memory=1024),
}


def reserved_concurrency(settings: Settings, spec: Resources) -> dict[str, int | None]:
    """Each function's reserved concurrency, which is also the most of it that runs at once:
    a flood of the public APIs cannot take the account's whole Lambda concurrency."""
    websocket = settings.websocket_reserved_concurrency
    return {
        API: settings.api_reserved_concurrency,
        AUTHORIZER: settings.authorizer_reserved_concurrency,
        WS_CONNECT: websocket,
        WS_MESSAGE: websocket,
        WS_DISCONNECT: websocket,
        WORKER: spec.worker_reserved_concurrency,  # the portal's limit of scrapes at once
        # None: the ingest queue is its only trigger (S3 notifications of uploads through
        # presigned URLs, and its own continuations), and that event source's
        # MaximumConcurrency already caps it. A reservation would only take capacity from
        # the account's unreserved pool, and one below the cap would make Lambda throttle
        # the poller's invocations; each throttled receive counts towards the ingest
        # queue's 5 before a file is dead-lettered.
        INGEST: None,
    }


def function_environment(settings: Settings, resolved: Mapping[str, str]) -> dict[str, str]:
    """Every non-empty setting as its ``RASPA_*`` variable; ``resolved`` overrides by field."""
    unknown = set(resolved) - {f.name for f in fields(Settings)}
    if unknown:
        raise ValueError(f"not settings: {sorted(unknown)}")
    # resolved values are deploy-time tokens (strings), written as they are
    deployed = dataclasses.replace(settings, **resolved)
    return {
        "POWERTOOLS_SERVICE_NAME": "raspa",
        "POWERTOOLS_METRICS_NAMESPACE": "Raspa",
        **deployed.to_env(leave_out=_NOT_IN_ENVIRONMENT),
    }


class Functions:
    """Packages the Chalice app into ``stack`` and configures each of its functions."""

    def __init__(
        self,
        stack: Stack,
        *,
        settings: Settings,
        spec: Resources,
        data: Data,
        auth: Auth,
        source_dir: str,
    ) -> None:
        self.stack, self.settings, self.spec, self.data = stack, settings, spec, data
        self.chalice = package(stack, source_dir, settings.region, ROLE_PLACEHOLDER)
        self.rest_api = self.chalice.get_resource(REST_API)
        self.websocket_api = self.chalice.get_resource("WebsocketAPI")
        self.access = Access(data, self.websocket_api.ref, API_STAGE)
        self.names = function_ids(self.chalice)
        unknown = sorted(set(self.names) - set(FUNCTIONS))
        if unknown:
            raise ValueError(
                f"app.py declares functions infra/functions.py does not know: {unknown}"
            )
        environment = function_environment(settings, self._resolved(auth))
        self.reserved_concurrency = reserved_concurrency(settings, spec)
        self.roles: dict[str, iam.Role] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        for name in self.names:
            self._configure(name, environment)
        self.event_sources: list[lambda_.CfnEventSourceMapping] = []
        self._wire_sources(WORKER, spec.worker_sources)
        if spec.ingest_source is not None:
            self._wire_sources(INGEST, (spec.ingest_source,))
        self._customize_apis()

    # ----------------------------------------------------------------- queries
    def function(self, name: str) -> CfnResource:
        return self.chalice.get_resource(name)

    @property
    def api_origin(self) -> str:
        return f"https://{self.rest_api.ref}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"

    @property
    def api_url(self) -> str:
        return f"{self.api_origin}/{API_STAGE}/"

    @property
    def api_name(self) -> str:
        """The REST API's name (the ``ApiName`` dimension of its metrics)."""
        return f"{self.stack.stack_name}-api"

    @property
    def websocket_url(self) -> str:
        host = f"{self.websocket_api.ref}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"
        return f"wss://{host}/{API_STAGE}"

    @property
    def websocket_endpoint(self) -> str:
        """The @connections management endpoint the functions post to."""
        host = f"{self.websocket_api.ref}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"
        return f"https://{host}/{API_STAGE}"

    # ----------------------------------------------------------------- wiring
    def _resolved(self, auth: Auth) -> dict[str, str]:
        s, data = self.settings, self.data
        return {
            "queue_url": data.queue(s.queue_name).queue_url,
            "ingest_queue_url": data.queue(s.ingest_queue_name).queue_url,
            "ws_endpoint": self.websocket_endpoint,
            "ws_url": self.websocket_url,
            "auth_issuer": auth.issuer,
            "auth_client_id": auth.client_id,
        }

    def _configure(self, name: str, environment: Mapping[str, str]) -> None:
        profile = FUNCTIONS[name]
        fn = self.function(name)
        log_group = logs.LogGroup(
            self.stack,
            f"{name}Logs",
            retention=_LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        statements = [Access.logs(log_group.log_group_arn), *self._statements(name)]
        if profile.tracing:
            statements.append(Access.tracing())
        role = iam.Role(
            self.stack,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"raspa {name}: only what its code calls",
            inline_policies={"access": iam.PolicyDocument(statements=statements)},
        )
        fn.add_property_override("Role", role.role_arn)
        fn.add_property_override("MemorySize", profile.memory)
        fn.add_property_override("Timeout", self._timeout(name, profile))
        fn.add_property_override("Tracing", "Active" if profile.tracing else "PassThrough")
        fn.add_property_override("LoggingConfig", {"LogGroup": log_group.log_group_name})
        fn.add_property_override(
            "Environment.Variables",
            # The app loads the X-Ray SDK only where the function is traced.
            {**environment, "POWERTOOLS_TRACE_DISABLED": str(not profile.tracing).lower()},
        )
        NagSuppressions.add_resource_suppressions(fn, [_RUNTIME_SUPPRESSION])
        reserved = self.reserved_concurrency[name]
        if reserved is not None:
            fn.add_property_override("ReservedConcurrentExecutions", reserved)
        self._suppress_wildcards(role, name)
        self.roles[name], self.log_groups[name] = role, log_group

    def _timeout(self, name: str, profile: Profile) -> int:
        if name == WORKER:
            return self.settings.scrape_timeout_seconds
        if name == INGEST:
            return self.spec.ingest_timeout_seconds
        assert profile.timeout is not None
        return profile.timeout

    def _statements(self, name: str) -> list[iam.PolicyStatement]:
        a, s, bucket = self.access, self.settings, self.spec.bucket
        (scrape,) = [source.queue for source in self.spec.worker_sources]
        ingest = self.spec.ingest_source.queue if self.spec.ingest_source else None
        (dlq,) = {queue.dead_letter for queue in self.spec.queues if queue.dead_letter}
        assert bucket is not None and ingest is not None, "the spec lacks the batch resources"
        if name == API:
            return [
                a.tables(),
                a.send(scrape),  # a new task's wake-up
                a.write_objects(bucket.upload_prefix),  # presigned upload URLs
                a.read_objects(bucket.results_prefix),  # presigned results URLs
            ]
        if name == WORKER:
            return [
                a.tables(),
                a.consume(scrape),
                # wake-ups and retries to the scrape queue, a failed task's letter to the
                # DLQ, a finished batch's finalize to the ingest queue
                a.send(scrape, dlq, ingest),
                self._locate(dlq),
                a.portal_secret(),
                a.manage_connections(),
            ]
        if name == INGEST:
            return [
                a.tables(),
                a.read_objects(bucket.upload_prefix),
                a.write_objects(bucket.results_prefix),
                a.send(scrape, ingest),  # released batch tasks' wake-ups, continuations
                a.consume(ingest),
                a.manage_connections(),
            ]
        if name == WS_MESSAGE:  # answers subscribe/hello/ping on the connection itself
            return [a.tables(), a.manage_connections()]
        if name in (WS_CONNECT, WS_DISCONNECT):
            # Registry.register/unregister: the connection item and the user's connection set.
            return [a.tables(s.connections_table, s.tasks_table)]
        return []  # the authorizer verifies tokens against the issuer's public keys only

    def _locate(self, queue_name: str) -> iam.PolicyStatement:
        """GetQueueUrl of a queue the settings give no URL of: the worker finds the DLQ by
        its name (``Services.dead_letters``)."""
        return iam.PolicyStatement(
            sid="Locate",
            actions=["sqs:GetQueueUrl"],
            resources=[self.data.queue(queue_name).queue_arn],
        )

    def _wire_sources(self, name: str, sources: tuple[EventSourceSpec, ...]) -> None:
        """One event source mapping per queue, capped by its MaximumConcurrency."""
        if name not in self.names:
            Annotations.of(self.stack).add_warning_v2(
                f"raspa:{name}-missing",
                f"app.py has no {name} function: {[s.queue for s in sources]} have no consumer",
            )
            return
        fn = self.function(name)
        fn.add_property_deletion_override("Events")  # the spec's caps, not chalice's mapping
        for source in sources:
            queue = self.data.queue(source.queue)
            mapping = lambda_.CfnEventSourceMapping(
                self.stack,
                f"{name}{queue.node.id}Source",
                function_name=fn.ref,
                event_source_arn=queue.queue_arn,
                batch_size=1,
                scaling_config=lambda_.CfnEventSourceMapping.ScalingConfigProperty(
                    maximum_concurrency=source.max_concurrency
                ),
            )
            self.event_sources.append(mapping)

    def _customize_apis(self) -> None:
        s = self.settings
        self.rest_api.add_property_override("Name", self.api_name)
        self.rest_api.add_property_override("DefinitionBody.info.title", self.api_name)
        self.rest_api.add_property_override("TracingEnabled", True)
        # Stage throttling, which API Gateway applies to each method of the REST stage
        # (SAM passes MethodSettings on to the stage it generates) and to each WebSocket
        # route ($connect included), answering 429 beyond it. All routes together are
        # capped by the functions' reserved concurrency.
        self.rest_api.add_property_override(
            "MethodSettings",
            [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "ThrottlingRateLimit": s.api_rate_limit,
                    "ThrottlingBurstLimit": s.api_burst_limit,
                }
            ],
        )
        websocket_stage = self.chalice.get_resource(WEBSOCKET_STAGE)
        websocket_stage.add_property_override(
            "DefaultRouteSettings",
            {"ThrottlingRateLimit": s.ws_rate_limit, "ThrottlingBurstLimit": s.ws_burst_limit},
        )
        # cdk-nag sees SAM's resources only once expanded (tests/infra expands them as
        # CloudFormation will); these hold for what RestAPI expands to (RestApi, Stage).
        NagSuppressions.add_resource_suppressions(self.rest_api, _REST_API_SUPPRESSIONS)
        NagSuppressions.add_resource_suppressions(
            websocket_stage,
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG1",
                    reason="Access logging needs the account-wide API Gateway CloudWatch Logs "
                    "role, which one app's stack should not take over; $connect logs every "
                    "refused connection itself.",
                )
            ],
        )
        routes = [
            self.chalice.get_resource(route)
            for route in (
                "WebsocketConnectRoute",
                "WebsocketMessageRoute",
                "WebsocketDisconnectRoute",
            )
        ]
        for route in routes:
            NagSuppressions.add_resource_suppressions(
                route,
                [
                    NagPackSuppression(
                        id="AwsSolutions-APIG4",
                        reason="$connect verifies the Cognito token (?token=) in its handler and "
                        "refuses the connection without one; the other routes only ever run "
                        "on connections $connect accepted.",
                    )
                ],
            )

    def _suppress_wildcards(self, role: iam.Role, name: str) -> None:
        """The only wildcards: X-Ray, object keys under a prefix, and connection ids."""
        applies_to: list[Any] = []
        if FUNCTIONS[name].tracing:
            applies_to.append("Resource::*")
        if name in (API, INGEST):
            prefixes = [self.spec.bucket.upload_prefix, self.spec.bucket.results_prefix]  # type: ignore[union-attr]
            applies_to += [
                RegexAppliesTo(regex=rf"/^Resource::arn:<AWS::Partition>:s3:::.+\/{p}\*$/")
                for p in prefixes
            ]
        if name in (WORKER, INGEST, WS_MESSAGE):
            applies_to.append(
                RegexAppliesTo(
                    regex=r"/^Resource::arn:<AWS::Partition>:execute-api:.+\/@connections\/\*$/"
                )
            )
        if applies_to:
            NagSuppressions.add_resource_suppressions(
                role,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        reason="X-Ray actions take no resource; presigned and ingest object keys "
                        "are only known under their prefix; WebSocket connection ids are "
                        "only known at run time. Actions are all named.",
                        applies_to=applies_to,
                    )
                ],
            )
