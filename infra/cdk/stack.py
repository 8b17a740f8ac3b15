"""The stack, drawn like the architecture: API -> function -> queue -> function -> tables,
and on through the notifications queue to the notifier, which reads the signing secret."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from infra.cdk.api import Api
from infra.cdk.auth import Auth
from infra.cdk.firewall import Firewall
from infra.cdk.functions import Functions
from infra.cdk.messaging import Messaging
from infra.cdk.naming import construct_id
from infra.cdk.secrets import Secrets
from infra.cdk.storage import Storage
from infra.topology import APP_CLIENTS, AppClient, Topology

REMOVAL_POLICY_CONTEXT = "removalPolicy"
WAF_CONTEXT = "waf"


def removal_policy_from_context(scope: Construct) -> RemovalPolicy:
    """What happens to tables, log groups and secrets when the stack is deleted.

    RETAIN by default, so deleting a stack never deletes orders. A throwaway stack opts in to
    deletion with the context value `removalPolicy=destroy`, e.g.
    `npx cdk deploy -c removalPolicy=destroy`. Any other value is refused.
    """
    value = scope.node.try_get_context(REMOVAL_POLICY_CONTEXT)
    if value is None or value == "retain":
        return RemovalPolicy.RETAIN
    if value == "destroy":
        return RemovalPolicy.DESTROY
    raise ValueError(f"context {REMOVAL_POLICY_CONTEXT}={value!r}: expected 'retain' or 'destroy'")


def waf_from_context(scope: Construct) -> bool:
    """Whether to put a WAF web ACL in front of the API: off unless `-c waf=true`.

    Off by default because a web ACL costs a monthly fee per ACL and rule plus a fee per million
    requests, on top of the API's; `true`/`false` (or JSON booleans in cdk.json) only.
    """
    value = scope.node.try_get_context(WAF_CONTEXT)
    if value in (None, False, "false"):
        return False
    if value in (True, "true"):
        return True
    raise ValueError(f"context {WAF_CONTEXT}={value!r}: expected 'true' or 'false'")


class AsyncOrdersStack(Stack):
    """Everything `topology` declares, and nothing it does not."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        app_clients: Sequence[AppClient] = APP_CLIENTS,
        **kwargs: Any,
    ) -> None:
        if problems := topology.validate():
            raise ValueError("the topology is unsound: " + "; ".join(problems))
        if not app_clients:
            raise ValueError("no app clients: nobody could call the API (every method needs a key)")
        super().__init__(scope, id, **kwargs)
        removal_policy = removal_policy_from_context(self)
        waf = waf_from_context(self)

        storage = Storage(self, "Storage", topology=topology, removal_policy=removal_policy)
        messaging = Messaging(self, "Messaging", topology=topology)
        secrets = Secrets(self, "Secrets", topology=topology, removal_policy=removal_policy)
        functions = Functions(
            self,
            "Functions",
            topology=topology,
            storage=storage,
            messaging=messaging,
            secrets=secrets,
            removal_policy=removal_policy,
        )
        auth = Auth(self, "Auth", app_clients=app_clients, removal_policy=removal_policy)
        api = Api(
            self,
            "Api",
            topology=topology,
            handler=functions.by_name[topology.api_function().name],
            user_pool=auth.user_pool,
            app_clients=app_clients,
            removal_policy=removal_policy,
        )
        if waf:
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
        for name, queue in messaging.queues.items():
            CfnOutput(self, f"{construct_id(name)}QueueUrl", value=queue.queue_url)
        for name, dlq in messaging.dead_letter_queues.items():
            CfnOutput(self, f"{construct_id(name)}DlqUrl", value=dlq.queue_url)
        for name, table in storage.tables.items():
            CfnOutput(self, f"{construct_id(name)}TableName", value=table.table_name)
        for name, secret in secrets.secrets.items():
            CfnOutput(self, f"{construct_id(name)}SecretArn", value=secret.secret_arn)
