"""OAuth2 client credentials: a Cognito user pool issues short-lived access tokens to API clients.

The pool has no users: its only callers are app clients (machines) that trade their client id
and secret for an access token at the token endpoint, with the topology's scopes. API Gateway's
Cognito authorizer then checks each request's token and the method's scopes (infra.cdk.api).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.cdk.nag import acknowledge
from infra.cdk.naming import construct_id
from infra.topology import ACCESS_TOKEN_MINUTES, RESOURCE_SERVER, SCOPES, AppClient

PASSWORD_MIN_LENGTH = 14
# Cognito refuses domain prefixes containing these words.
RESERVED_DOMAIN_WORDS = ("aws", "amazon", "cognito")


class Auth(Construct):
    """User pool, its cognito prefix domain (the token endpoint), resource server and one app
    client per topology AppClient, allowed that client's scopes only."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        app_clients: Sequence[AppClient],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            # Nobody signs in today; should people ever be added, they meet this policy and MFA
            # by authenticator app (no SMS: it would need an SNS role and costs per message).
            password_policy=cognito.PasswordPolicy(
                min_length=PASSWORD_MIN_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(1),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.NONE,
            # AWS's default plan, stated. M2M is billed per app client and token request on
            # every plan; Plus would add per-user charges for protection that users alone get.
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )
        acknowledge(
            self.user_pool,
            "COG8",
            "The Plus plan's threat protection scores user sign-ins (adaptive authentication, "
            "compromised-credential checks); this pool has no users and no self sign-up, and its "
            "only callers are app clients using the client-credentials grant, which threat "
            "protection does not evaluate. Plus would bill per monthly active user for nothing "
            "it protects here.",
        )

        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=f"{domain_prefix(stack.stack_name)}-{stack.account}"
            ),
        )
        self.token_url = f"{self.domain.base_url()}/oauth2/token"

        scopes = {
            name: cognito.ResourceServerScope(
                scope_name=scope_name(name), scope_description=description
            )
            for name, description in SCOPES.items()
        }
        resource_server = self.user_pool.add_resource_server(
            "ResourceServer",
            identifier=RESOURCE_SERVER,
            user_pool_resource_server_name=f"{stack.stack_name} API",
            scopes=list(scopes.values()),
        )
        # AppClient name -> its Cognito app client, in topology order
        self.clients: dict[str, cognito.UserPoolClient] = {}
        for app_client in app_clients:
            if unknown := set(app_client.scopes) - set(scopes):
                raise ValueError(
                    f"app client {app_client.name!r} asks for scopes the resource server does "
                    f"not offer: {sorted(unknown)}"
                )
            if app_client.name in self.clients:
                raise ValueError(f"app client {app_client.name!r} is declared twice")
            self.clients[app_client.name] = self.user_pool.add_client(
                construct_id(app_client.name),
                user_pool_client_name=app_client.name,
                generate_secret=True,
                o_auth=cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(client_credentials=True),
                    scopes=[
                        cognito.OAuthScope.resource_server(resource_server, scopes[name])
                        for name in app_client.scopes
                    ],
                ),
                # No user sign-in flow (an explicit, empty choice): Cognito's only remaining flow
                # is refresh, and the client-credentials grant never issues refresh tokens.
                auth_flows=cognito.AuthFlow(
                    user_password=False, user_srp=False, custom=False, admin_user_password=False
                ),
                access_token_validity=Duration.minutes(ACCESS_TOKEN_MINUTES),
                enable_token_revocation=True,
                prevent_user_existence_errors=True,
            )


def scope_name(scope: str) -> str:
    """`orders/read` -> `read`: the name a scope has inside its resource server."""
    prefix = f"{RESOURCE_SERVER}/"
    if not scope.startswith(prefix):
        raise ValueError(f"scope {scope!r} is not on the resource server {RESOURCE_SERVER!r}")
    return scope.removeprefix(prefix)


def domain_prefix(stack_name: str) -> str:
    """The stack's part of the cognito prefix domain (the account id follows it): `asyncorders`.

    Lower-case letters, digits and inner hyphens, short enough to leave room for the account;
    a stack name Cognito would refuse fails the synth instead of the deployment.
    """
    if Token.is_unresolved(stack_name):
        raise ValueError("the stack needs a concrete name to derive its Cognito domain")
    prefix = re.sub(r"[^a-z0-9]+", "-", stack_name.lower()).strip("-")[:48].strip("-")
    if not prefix or any(word in prefix for word in RESERVED_DOMAIN_WORDS):
        raise ValueError(
            f"stack name {stack_name!r} gives the Cognito domain prefix {prefix!r}: it must be "
            f"non-empty and contain none of {', '.join(RESERVED_DOMAIN_WORDS)}"
        )
    return prefix
