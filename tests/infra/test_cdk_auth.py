"""Sign-in: the Cognito user pool with the VIP group, or an existing pool imported."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template

from infra.app import stack_options
from infra.auth import Auth
from tests.infra.cfn import ref_id, render


def test_the_stack_creates_a_staff_only_pool_with_a_strong_password_policy(
    synthesized: Any,
) -> None:
    (pool,) = synthesized.resources("AWS::Cognito::UserPool").values()
    props = pool["Properties"]
    assert props["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers"))
    assert props["DeletionProtection"] == "ACTIVE"
    assert pool["DeletionPolicy"] == "Retain", "users survive a teardown"


def test_the_pool_has_the_vip_group_the_app_reads(synthesized: Any, settings: Any) -> None:
    (group,) = synthesized.resources("AWS::Cognito::UserPoolGroup").values()
    assert group["Properties"]["GroupName"] == settings.vip_group == "vip"
    (pool_id,) = synthesized.resources("AWS::Cognito::UserPool")
    assert ref_id(group["Properties"]["UserPoolId"]) == pool_id


def test_the_page_signs_in_with_a_public_password_client_and_no_oauth(synthesized: Any) -> None:
    (client,) = synthesized.resources("AWS::Cognito::UserPoolClient").values()
    props = client["Properties"]
    assert props["GenerateSecret"] is False, "a browser cannot keep a client secret"
    assert set(props["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert "AllowedOAuthFlows" not in props and "CallbackURLs" not in props
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert props["IdTokenValidity"] == 60 and props["TokenValidityUnits"]["IdToken"] == "minutes"


def auth_template(**kwargs: Any) -> Template:
    stack = Stack(App(), "AuthOnly")
    Auth(stack, "Auth", vip_group="vip", **kwargs)
    return Template.from_stack(stack)


def test_given_an_existing_pool_id_then_no_pool_or_group_is_created_only_a_client() -> None:
    template = auth_template(user_pool_id="us-east-1_Example")
    template.resource_count_is("AWS::Cognito::UserPool", 0)
    template.resource_count_is("AWS::Cognito::UserPoolGroup", 0)
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"UserPoolId": "us-east-1_Example"}
    )


def test_given_an_existing_pool_and_client_then_nothing_is_created() -> None:
    stack = Stack(App(), "AuthOnly")
    auth = Auth(stack, "Auth", vip_group="vip", user_pool_id="us-east-1_Example", client_id="abc")
    template = Template.from_stack(stack)
    assert template.to_json().get("Resources", {}) == {}
    assert auth.client_id == "abc"
    issuer = stack.resolve(auth.issuer)
    assert render(issuer) == (
        "https://cognito-idp.<AWS::Region>.<AWS::URLSuffix>/us-east-1_Example"
    )


def test_context_values_choose_the_stack_name_an_imported_pool_and_page_origins() -> None:
    app = App(
        context={
            "StackName": "RaspaStaging",
            "UserPoolId": "us-east-1_Example",
            "UserPoolClientId": "client123",
            "PageOrigins": "https://a.example, https://b.example,",
        }
    )
    assert stack_options(app) == {
        "construct_id": "RaspaStaging",
        "user_pool_id": "us-east-1_Example",
        "user_pool_client_id": "client123",
        "page_origins": ("https://a.example", "https://b.example"),
    }


def test_without_context_the_stack_is_raspa_with_its_own_pool() -> None:
    assert stack_options(App()) == {
        "construct_id": "Raspa",
        "user_pool_id": None,
        "user_pool_client_id": None,
        "page_origins": (),
    }


def test_given_no_pool_id_then_auth_creates_the_pool_with_its_vip_group() -> None:
    template = auth_template()
    template.resource_count_is("AWS::Cognito::UserPool", 1)
    template.has_resource_properties(
        "AWS::Cognito::UserPoolGroup", {"GroupName": "vip", "UserPoolId": Match.any_value()}
    )
