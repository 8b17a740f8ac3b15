"""An optional AWS WAF web ACL in front of the API stage (`-c waf=true`).

AWS managed rules for common exploits and known-bad inputs, and two rate-based rules: one per
bearer token (the closest WAF gets to "per client": a client's token lives for
ACCESS_TOKEN_MINUTES) and one per source IP (floods without a token). Rate-limited requests are
answered 429 with a problem+json body, like the stage's own throttling.
"""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.cdk.api import GATEWAY_PROBLEM_TYPE_PREFIX
from infra.topology import WAF_RATE_LIMIT_PER_IP, WAF_RATE_LIMIT_PER_TOKEN

MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
# The topology's WAF limits count requests per 5 minutes.
RATE_WINDOW_SECONDS = 300
THROTTLED_BODY_KEY = "throttled"
THROTTLED_BODY = json.dumps(
    {"type": f"{GATEWAY_PROBLEM_TYPE_PREFIX}THROTTLED", "title": "Too Many Requests", "status": 429}
)


class Firewall(Construct):
    """A regional web ACL associated with `stage`: allow by default, block what the rules match."""

    def __init__(self, scope: Construct, id: str, *, stage: apigateway.Stage) -> None:
        super().__init__(scope, id)
        name = f"{Stack.of(self).stack_name}-api"
        rules = [
            _managed_rule_group(group, priority)
            for priority, group in enumerate(MANAGED_RULE_GROUPS)
        ]
        rules.append(
            _rate_rule(
                "RatePerToken",
                len(rules),
                wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="CUSTOM_KEYS",
                    custom_keys=[
                        wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                            header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                                name="authorization",
                                text_transformations=[
                                    wafv2.CfnWebACL.TextTransformationProperty(
                                        priority=0, type="NONE"
                                    )
                                ],
                            )
                        )
                    ],
                    limit=WAF_RATE_LIMIT_PER_TOKEN,
                    evaluation_window_sec=RATE_WINDOW_SECONDS,
                ),
            )
        )
        rules.append(
            _rate_rule(
                "RatePerIp",
                len(rules),
                wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP",
                    limit=WAF_RATE_LIMIT_PER_IP,
                    evaluation_window_sec=RATE_WINDOW_SECONDS,
                ),
            )
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            description="Managed rule groups and rate limits in front of the order API",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            custom_response_bodies={
                THROTTLED_BODY_KEY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=THROTTLED_BODY
                )
            },
            visibility_config=_visibility(name),
        )
        # The stage's ARN refers to the stage: the association waits for it.
        wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )


def _managed_rule_group(group: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=group,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=group
            )
        ),
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        visibility_config=_visibility(group),
    )


def _rate_rule(
    name: str, priority: int, statement: wafv2.CfnWebACL.RateBasedStatementProperty
) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(rate_based_statement=statement),
        action=wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                    response_code=429, custom_response_body_key=THROTTLED_BODY_KEY
                )
            )
        ),
        visibility_config=_visibility(name),
    )


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric,
        sampled_requests_enabled=True,
    )
