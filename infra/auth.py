"""The Cognito user pool that signs staff in: created here, or an existing one imported."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

__all__ = ["Auth"]


class Auth(Construct):
    """A user pool with the VIP group and a public app client for password sign-in.

    With ``user_pool_id`` the pool is imported (its groups are left as they are) and an app
    client is created in it, unless ``client_id`` names one already there.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vip_group: str,
        user_pool_id: str | None = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.imported = bool(user_pool_id)
        if user_pool_id:
            self.pool: cognito.IUserPool = cognito.UserPool.from_user_pool_id(
                self, "Pool", user_pool_id
            )
        else:
            self.pool = self._pool(vip_group)
        if client_id:
            self.client_id = client_id
        else:
            client = self.pool.add_client(
                "WebClient",
                user_pool_client_name="raspa-web",
                generate_secret=False,
                auth_flows=cognito.AuthFlow(user_password=True),
                # The page calls InitiateAuth itself: no hosted UI, no OAuth grants.
                disable_o_auth=True,
                id_token_validity=Duration.hours(1),
                access_token_validity=Duration.hours(1),
                refresh_token_validity=Duration.days(1),
                prevent_user_existence_errors=True,
            )
            self.client_id = client.user_pool_client_id

    def _pool(self, vip_group: str) -> cognito.UserPool:
        pool = cognito.UserPool(
            self,
            "Pool",
            user_pool_name="raspa-users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        cognito.CfnUserPoolGroup(
            self,
            "VipGroup",
            user_pool_id=pool.user_pool_id,
            group_name=vip_group,
            description="VIP users: their lookups go to the VIP lane",
        )
        NagSuppressions.add_resource_suppressions(
            pool,
            [
                NagPackSuppression(
                    id="AwsSolutions-COG2",
                    reason="The page signs in with USER_PASSWORD_AUTH and has no MFA step; "
                    "MFA is optional (TOTP) for users who can set it up with the AWS CLI.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-COG8",
                    reason="The Plus feature plan is billed per active user; the pool is "
                    "internal staff only, with no self sign-up.",
                ),
            ],
        )
        return pool

    @property
    def issuer(self) -> str:
        """The OIDC issuer of the pool's tokens."""
        return f"https://cognito-idp.{Aws.REGION}.{Aws.URL_SUFFIX}/{self.pool.user_pool_id}"
