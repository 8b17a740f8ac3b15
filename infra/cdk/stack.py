"""The stacks, drawn like the architecture: a messaging stack that owns the queues (and the
stage's alarm topic and dashboard), and one stack per component that owns its tables, secrets,
functions and their alarms (and, for the component that serves it, the API in front of them).
Component stacks find the queues and the topic through SSM parameters the messaging stack
writes, never through CloudFormation exports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.cdk.api import Api
from infra.cdk.auth import Auth
from infra.cdk.firewall import Firewall
from infra.cdk.functions import Functions
from infra.cdk.messaging import ImportedQueues, Messaging
from infra.cdk.monitoring import (
    Alarms,
    AlarmTopic,
    Dashboard,
    api_alarms,
    function_alarms,
    imported_topic,
    queue_alarms,
    webhook_alarm,
)
from infra.cdk.naming import api_name, construct_id, dlq_output, queue_output
from infra.cdk.secrets import Secrets
from infra.cdk.seeding import CatalogSeed
from infra.cdk.stage import StageSettings, stage_settings
from infra.cdk.storage import Storage
from infra.topology import (
    APP_CLIENTS,
    PRODUCTS_TABLE,
    WEBHOOK_METRICS_COMPONENT,
    AppClient,
    Topology,
)


class MessagingStack(Stack):
    """Every topology queue and its DLQ, their URLs and ARNs as SSM parameters; and the stage's
    monitoring that belongs to no component: the alarm topic, the queue alarms, the dashboard
    (docs/operations.md says why here).

    The queues live here, not in the stack of the component that consumes them, because
    components send to each other's queues (orders -> notifications and back): owned by the
    component stacks, each would depend on the other, a cycle.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        settings: StageSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        settings = settings or stage_settings(self)
        prefix = settings.prefix
        messaging = Messaging(self, "Messaging", topology=topology, app_name=prefix)
        topic = AlarmTopic(
            self,
            "AlarmTopic",
            app_name=prefix,
            email=settings.alarm_email,
            removal_policy=settings.removal_policy,
        )
        alarms = Alarms(self, "Alarms", topic=topic.topic, app_name=prefix)
        queue_alarms(alarms, topology, messaging.queues, messaging.dead_letter_queues)
        Dashboard(
            self,
            "Dashboard",
            topology=topology,
            app_name=prefix,
            queues=messaging.queues,
            dead_letter_queues=messaging.dead_letter_queues,
        )
        for name, queue in messaging.queues.items():
            CfnOutput(self, queue_output(name), value=queue.queue_url)
        for name, dlq in messaging.dead_letter_queues.items():
            CfnOutput(self, dlq_output(name), value=dlq.queue_url)


class ComponentStack(Stack):
    """What `component` owns in `topology` (its tables, secrets and functions, and the API if
    it serves one), and nothing it does not: another component's table or secret is never
    here, and queues are imported from the messaging stack's parameters."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        component: str,
        app_clients: Sequence[AppClient] = APP_CLIENTS,
        settings: StageSettings | None = None,
        **kwargs: Any,
    ) -> None:
        if problems := topology.validate():
            raise ValueError("the topology is unsound: " + "; ".join(problems))
        topology.component(component)  # a KeyError for a component the topology lacks
        serves_api = any(
            topology.function(route.function).component == component for route in topology.routes
        )
        if serves_api and not app_clients:
            raise ValueError("no app clients: nobody could call the API (every method needs a key)")
        super().__init__(scope, id, **kwargs)
        settings = settings or stage_settings(self)
        removal_policy = settings.removal_policy

        specs = [f for f in topology.functions if f.component == component]
        consumed = {f.event_source.queue for f in specs if f.event_source is not None}
        storage = Storage(
            self, "Storage", topology=topology, component=component, removal_policy=removal_policy
        )
        secrets = Secrets(
            self, "Secrets", topology=topology, component=component, removal_policy=removal_policy
        )
        queues = ImportedQueues(
            self,
            "Queues",
            topology=topology,
            queue_names=consumed | {q for f in specs for q in topology.queue_urls_needed(f)},
            dlq_names={q for f in specs for q in topology.dead_letters(f)},
            app_name=settings.prefix,
        )
        functions = Functions(
            self,
            "Functions",
            topology=topology,
            component=component,
            storage=storage,
            queues=queues,
            secrets=secrets,
            settings=settings,
        )
        if settings.seed_catalog and PRODUCTS_TABLE.name in storage.tables:
            CatalogSeed(self, "CatalogSeed", table=storage.tables[PRODUCTS_TABLE.name])
        alarms = Alarms(
            self, "Alarms", topic=imported_topic(self, settings.prefix), app_name=settings.prefix
        )
        function_alarms(alarms, topology, functions.by_name)
        if component == WEBHOOK_METRICS_COMPONENT:
            webhook_alarm(alarms)
        if serves_api:
            self._api(topology, functions, app_clients, settings)
            api_alarms(alarms, api_name(self.stack_name))
        for name, table in storage.tables.items():
            CfnOutput(self, f"{construct_id(name)}TableName", value=table.table_name)
        for name, secret in secrets.secrets.items():
            CfnOutput(self, f"{construct_id(name)}SecretArn", value=secret.secret_arn)

    def _api(
        self,
        topology: Topology,
        functions: Functions,
        app_clients: Sequence[AppClient],
        settings: StageSettings,
    ) -> None:
        """The REST API in front of the component's API function, its OAuth2 clients, usage
        plans and (with the stage's WAF setting) web ACL, and the outputs a client needs."""
        removal_policy = settings.removal_policy
        auth = Auth(self, "Auth", app_clients=app_clients, removal_policy=removal_policy)
        api = Api(
            self,
            "Api",
            topology=topology,
            handler=functions.by_name[topology.api_function().name],
            user_pool=auth.user_pool,
            app_clients=app_clients,
            removal_policy=removal_policy,
            log_retention=settings.log_retention,
        )
        if settings.waf:
            Firewall(self, "Firewall", stage=api.rest_api.deployment_stage)

        CfnOutput(self, "ApiUrl", value=api.rest_api.url, description="Base URL of the stage")
        CfnOutput(
            self,
            "TokenUrl",
            value=auth.token_url,
            description="OAuth2 token endpoint (client credentials grant)",
        )
        # The first client keeps the ClientId output the README and earlier deployments name.
        first = auth.clients[app_clients[0].name]
        CfnOutput(
            self,
            "ClientId",
            value=first.user_pool_client_id,
            description=f"{app_clients[0].name}'s id (also {construct_id(app_clients[0].name)}"
            "ClientId); its secret: aws cognito-idp describe-user-pool-client",
        )
        for client in app_clients:
            name = construct_id(client.name)
            CfnOutput(
                self,
                f"{name}ClientId",
                value=auth.clients[client.name].user_pool_client_id,
                description=f"{client.name}'s id; its secret: "
                "aws cognito-idp describe-user-pool-client",
            )
            CfnOutput(
                self,
                f"{name}ApiKeyId",
                value=api.api_keys[client.name].key_id,
                description=f"{client.name}'s API key id; its value: "
                "aws apigateway get-api-key --include-value --api-key <id>",
            )
        CfnOutput(self, "UserPoolId", value=auth.user_pool.user_pool_id)
