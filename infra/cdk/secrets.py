"""Secrets Manager secrets, one per topology secret a component owns, with a generated value."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.cdk.nag import acknowledge
from infra.cdk.naming import construct_id
from infra.topology import Secret, Topology

# 44 alphanumeric characters are valid base64 of 33 random bytes (about 261 bits): a Standard
# Webhooks signing key as it is, or with the optional `whsec_` prefix libraries take.
KEY_LENGTH = 44
NO_ROTATION_REASON = (
    "Rotated with an overlap, not on a Secrets Manager schedule: `orders-ops webhook-keys add` "
    "puts a new key beside the old (the secret holds several, newest first), the notifier signs "
    "with each (several signatures in webhook-signature, as Standard Webhooks allows), receivers "
    "move to the new key, then `webhook-keys remove` drops the old one. A scheduled rotation "
    "would swap the key without the receivers knowing it. Procedure: docs/webhooks.md, Key "
    "rotation procedure."
)


class Secrets(Construct):
    """Each secret holds a generated signing key; nothing secret is in the template."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        component: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.secrets: dict[str, secretsmanager.Secret] = {
            spec.name: self._secret(spec, removal_policy)
            for spec in topology.secrets
            if spec.component == component
        }

    def _secret(self, spec: Secret, removal_policy: RemovalPolicy) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            f"{construct_id(spec.name)}Secret",
            description=spec.description,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=KEY_LENGTH,
                exclude_punctuation=True,
                include_space=False,
            ),
            removal_policy=removal_policy,
        )
        acknowledge(secret, "SMG4", NO_ROTATION_REASON)
        return secret
