"""raspa's one CloudFormation stack: the Chalice app and everything around it.

Names, keys, indexes, TTLs, visibility timeouts, redrive and event source caps come from
``infra.spec.resources(settings)``, the definitions the local stack is built from too; the
APIs' own limits (stage throttling, the web ACL, reserved concurrency) from the settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from chalicelib.config import Settings
from infra.auth import Auth
from infra.data import Data
from infra.functions import REST_API, WORKER, Functions
from infra.monitoring import Monitoring, Watched
from infra.spec import resources
from infra.waf import ApiFirewall

__all__ = ["ROOT", "RaspaStack"]

#: The Chalice project (app.py, chalicelib/, .chalice/config.json).
ROOT = Path(__file__).resolve().parents[1]


class RaspaStack(Stack):
    """Queues, tables, bucket, secret, user pool, functions, the REST API's web ACL,
    dashboard and alarms.

    ``user_pool_id`` (and optionally ``user_pool_client_id``) imports an existing Cognito
    pool instead of creating one; ``page_origins`` adds browser origins allowed to upload
    batch files besides the API's own.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        source_dir: str | Path = ROOT,
        user_pool_id: str | None = None,
        user_pool_client_id: str | None = None,
        page_origins: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.spec = spec = resources(settings)
        self.data = Data(self, "Data", spec)
        self.auth = Auth(
            self,
            "Auth",
            vip_group=settings.vip_group,
            user_pool_id=user_pool_id,
            client_id=user_pool_client_id,
        )
        self.functions = Functions(
            self,
            settings=settings,
            spec=spec,
            data=self.data,
            auth=self.auth,
            source_dir=str(source_dir),
        )
        self.data.allow_browser([self.functions.api_origin, *page_origins])
        # The REST API only: WAF cannot be associated with a WebSocket API (see infra.waf).
        self.firewall = ApiFirewall(
            self,
            "Firewall",
            name=self.functions.api_name,
            rate_limit=settings.waf_rate_limit,
            rest_api_id=REST_API,
        )
        scrape = [source.queue for source in spec.worker_sources]
        consumed = [*scrape, *([spec.ingest_source.queue] if spec.ingest_source else [])]
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            Watched(
                queues={name: self.data.queue(name) for name in consumed},
                # The scrape queue pages ops; the ingest queue drains big uploads by design.
                alarmed_queues=tuple(scrape),
                dead_letter_queue=self.data.dead_letter_queue,
                worker_function_name=self.functions.function(WORKER).ref,
                api_name=self.functions.api_name,
            ),
        )
        self._outputs()

    @property
    def dashboard_url(self) -> str:
        """The dashboard in the CloudWatch console."""
        region, name = Aws.REGION, self.monitoring.dashboard.dashboard_name
        return (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards:name={name}"
        )

    def _outputs(self) -> None:
        f, data = self.functions, self.data
        assert data.bucket is not None
        outputs = {
            "ApiUrl": (f.api_url, "The HTTP API"),
            "PageUrl": (f.api_url, "The browser page (GET / of the API)"),
            "WebSocketUrl": (f.websocket_url, "The WebSocket API browsers connect to"),
            "UserPoolId": (self.auth.pool.user_pool_id, "Cognito user pool of raspa's users"),
            "UserPoolClientId": (self.auth.client_id, "App client the page signs in with"),
            "BatchBucketName": (data.bucket.bucket_name, "Bucket of uploaded batch files"),
            "AlertTopicArn": (self.monitoring.topic.topic_arn, "SNS topic the alarms publish to"),
            "DeadLetterQueueUrl": (data.dead_letter_queue.queue_url, "The scrape DLQ"),
            "DashboardUrl": (self.dashboard_url, "The CloudWatch dashboard"),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
