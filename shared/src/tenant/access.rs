//! Tenant-scoped AWS sessions (README, "Security model"; infra/README.md, "IAM"): per unit of
//! work the functions assume the tenant-access role with the session tag `tenant=<id>`, and the
//! clients for that tenant's secret and state items are built from the session's credentials.
//! The role's policy admits only `secret:snowsync/tenants/${aws:PrincipalTag/tenant}-??????`
//! and state items whose partition key is `TENANT#${aws:PrincipalTag/tenant}`, so a bug that
//! names another tenant is refused by IAM, not only by code.

use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sdk_sts::types::Tag;

use crate::error::{ErrorKind, Result, SyncError};
use crate::tenant::config::TenantId;

/// The session tag key the role's policy reads (`${aws:PrincipalTag/tenant}`).
pub const TENANT_TAG: &str = "tenant";

/// How long a tenant session lives: STS's minimum, one Lambda invocation at most (a run that
/// goes on continues in a fresh invocation, which assumes the role again).
pub const SESSION_SECONDS: i32 = 900;

/// The tenant-access role the functions assume per run.
#[derive(Debug, Clone)]
pub struct TenantRole {
    sts: aws_sdk_sts::Client,
    arn: String,
}

/// A tenant's session: the role's credentials, tagged with the tenant.
#[derive(Debug, Clone)]
pub struct TenantSession {
    /// The temporary credentials (access key id, secret key, session token).
    pub credentials: Credentials,
    /// The assumed-role ARN STS reports (`arn:...:assumed-role/<role>/<session name>`).
    pub assumed_role_arn: String,
}

impl TenantRole {
    /// The role `arn`, assumed with the process's own credentials through `sts`.
    pub fn new(sts: aws_sdk_sts::Client, arn: impl Into<String>) -> Self {
        Self {
            sts,
            arn: arn.into(),
        }
    }

    /// The role's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Assumes the role for `tenant`: session name = the tenant id, session tag
    /// `tenant=<id>`, [`SESSION_SECONDS`] long.
    ///
    /// # Errors
    /// `privilege` when STS refuses (naming the role and the trust/permission to fix),
    /// `config` for a malformed role ARN, `transient` otherwise.
    pub async fn assume(&self, tenant: &TenantId) -> Result<TenantSession> {
        let tag = Tag::builder()
            .key(TENANT_TAG)
            .value(tenant.as_str())
            .build()
            .map_err(|e| SyncError::config(format!("session tag: {e}")))?;
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.arn)
            .role_session_name(tenant.bounded("", "", 64))
            .duration_seconds(SESSION_SECONDS)
            .tags(tag)
            .send()
            .await
            .map_err(|e| self.error(tenant, e.into_service_error()))?;
        let c = out.credentials().ok_or_else(|| {
            SyncError::transient(format!(
                "assume {} for tenant {tenant}: STS answered without credentials",
                self.arn
            ))
        })?;
        let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
        Ok(TenantSession {
            credentials: Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                expiry,
                "snowsync-tenant-session",
            ),
            assumed_role_arn: out
                .assumed_role_user()
                .map(|u| u.arn().to_owned())
                .unwrap_or_default(),
        })
    }

    fn error(
        &self,
        tenant: &TenantId,
        e: impl ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    ) -> SyncError {
        let code = e.code().unwrap_or("unknown").to_owned();
        let (kind, fix) = match code.as_str() {
            "AccessDenied" | "AccessDeniedException" => (
                ErrorKind::Privilege,
                "the role's trust policy must admit this function's execution role for \
                 sts:AssumeRole and sts:TagSession (tag key \"tenant\"), and the execution role \
                 must be allowed both on the role (infra/template.yaml, TenantAccessRole)",
            ),
            "ValidationError" | "MalformedPolicyDocument" | "InvalidParameterValue" => (
                ErrorKind::Config,
                "set SNOWSYNC_TENANT_ROLE_ARN to the stack's TenantAccessRoleArn output",
            ),
            _ => (ErrorKind::Transient, "retry"),
        };
        SyncError::new(
            kind,
            format!(
                "assume tenant-access role {} for tenant {tenant}: STS answered {code}: {fix}",
                self.arn
            ),
        )
        .with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sts::error::ErrorMetadata;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;

    use super::*;

    const ARN: &str = "arn:aws:iam::123456789012:role/snowsync-tenant-access";

    fn role() -> TenantRole {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version_latest()
            .build();
        TenantRole::new(aws_sdk_sts::Client::from_conf(config), ARN)
    }

    fn refused(code: &str) -> SyncError {
        let e = AssumeRoleError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("User: arn:aws:sts::123456789012:assumed-role/x/y is not authorized")
                .build(),
        );
        role().error(&TenantId::parse("acme").expect("id"), e)
    }

    #[test]
    fn access_denied_is_one_line_naming_the_role_and_the_trust_to_fix() {
        let e = refused("AccessDenied");
        let text = e.to_string();
        assert_eq!(e.kind(), ErrorKind::Privilege);
        assert!(!text.contains('\n'), "{text}");
        for part in [
            ARN,
            "tenant acme",
            "AccessDenied",
            "trust policy",
            "sts:TagSession",
        ] {
            assert!(text.contains(part), "{part:?} missing: {text}");
        }
    }

    #[test]
    fn other_refusals_are_classified() {
        assert_eq!(refused("ValidationError").kind(), ErrorKind::Config);
        assert!(refused("ValidationError")
            .to_string()
            .contains("SNOWSYNC_TENANT_ROLE_ARN"));
        assert_eq!(refused("Throttling").kind(), ErrorKind::Transient);
    }
}
