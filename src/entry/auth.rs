//! Who is asking. The function sits behind an API Gateway authorizer, which has already checked
//! the token; what is left here is tenant isolation: the caller's project, read from the
//! authorizer's context, must be the project in the path.
//!
//! | where the context comes from | where the project is read |
//! |---|---|
//! | HTTP API, JWT authorizer | `requestContext.authorizer.jwt.claims[PROJECT_CLAIM]` |
//! | HTTP API, Lambda authorizer | `requestContext.authorizer.lambda[PROJECT_CLAIM]` |
//! | REST API, Cognito authorizer | `requestContext.authorizer.claims[PROJECT_CLAIM]` |
//! | REST API, Lambda authorizer | `requestContext.authorizer[PROJECT_CLAIM]` |
//! | IAM (Function URL or route with AWS_IAM auth) | none: any project, when `TRUSTED_PRINCIPALS` names the caller |
//!
//! An IAM caller is anyone whose AWS credentials may invoke the URL or route: in an account, that
//! can include roles of identity-pool guests and of other accounts. So no IAM caller is trusted
//! unless its ARN matches `TRUSTED_PRINCIPALS`; a session of an assumed role matches as its role.

use crate::config::PrincipalPattern;
use crate::error::ApiError;
use crate::job::Id;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyRequestContext, ApiGatewayRequestAuthorizer,
};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Signed with AWS credentials (SigV4) that IAM allowed to invoke this route or URL: the
    /// signer's ARN, empty when the context names none.
    Principal(String),
    /// A user or client of one project.
    Project(String),
}

impl Caller {
    /// Whether the caller may delete in `project_id`: its own project, or any project for an
    /// IAM principal that `trusted` names.
    pub fn authorize(&self, project_id: &Id, trusted: &[PrincipalPattern]) -> Result<(), ApiError> {
        match self {
            Caller::Principal(arn) if is_trusted(arn, trusted) => Ok(()),
            Caller::Principal(arn) => Err(ApiError::UntrustedPrincipal(arn.clone())),
            Caller::Project(own) if own == project_id.as_str() => Ok(()),
            Caller::Project(_) => Err(ApiError::ForeignProject(project_id.to_string())),
        }
    }

    /// The caller of an HTTP API or Function URL (payload format 2.0).
    pub fn of_http_api(
        authorizer: Option<&ApiGatewayRequestAuthorizer>,
        claim: &str,
    ) -> Result<Caller, ApiError> {
        let Some(authorizer) = authorizer else { return Err(ApiError::TokenMissing) };
        if let Some(iam) = &authorizer.iam {
            return Ok(Caller::Principal(iam.user_arn.clone().unwrap_or_default()));
        }
        if let Some(jwt) = &authorizer.jwt {
            return project(jwt.claims.get(claim).map(String::as_str));
        }
        if !authorizer.fields.is_empty() {
            return project(authorizer.fields.get(claim).and_then(Value::as_str));
        }
        Err(ApiError::TokenMissing)
    }

    /// The caller of a REST API (payload format 1.0).
    pub fn of_rest_api(
        context: &ApiGatewayProxyRequestContext,
        claim: &str,
    ) -> Result<Caller, ApiError> {
        let fields = &context.authorizer.fields;
        if let Some(claims) = fields.get("claims") {
            return project(claims.get(claim).and_then(Value::as_str));
        }
        if !fields.is_empty() {
            return project(fields.get(claim).and_then(Value::as_str));
        }
        // AWS_IAM auth leaves the authorizer empty and names the signer in `identity`.
        if let Some(arn) = context.identity.user_arn.as_deref().filter(|arn| !arn.is_empty()) {
            return Ok(Caller::Principal(arn.to_owned()));
        }
        Err(ApiError::TokenMissing)
    }
}

/// Who asked, for the audit trail, whether or not they may: how they were known, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// `jwt`, `cognito`, `lambda_authorizer`, `iam`, or `none` for no authorizer context.
    pub kind: &'static str,
    /// The token's subject and project, or the signer's ARN.
    pub id: String,
}

impl Who {
    /// The asker of an HTTP API or Function URL request (payload format 2.0).
    pub fn of_http_api(authorizer: Option<&ApiGatewayRequestAuthorizer>, claim: &str) -> Who {
        let Some(authorizer) = authorizer else { return Who::nobody() };
        if let Some(iam) = &authorizer.iam {
            return Who { kind: "iam", id: iam.user_arn.clone().unwrap_or_default() };
        }
        if let Some(jwt) = &authorizer.jwt {
            let claims = |name: &str| jwt.claims.get(name).map(String::as_str);
            return Who::token("jwt", claims("sub"), claim, claims(claim));
        }
        let field = |name: &str| authorizer.fields.get(name).and_then(Value::as_str);
        if authorizer.fields.is_empty() {
            return Who::nobody();
        }
        Who::token("lambda_authorizer", field("sub").or(field("principalId")), claim, field(claim))
    }

    /// The asker of a REST API request (payload format 1.0).
    pub fn of_rest_api(context: &ApiGatewayProxyRequestContext, claim: &str) -> Who {
        let fields = &context.authorizer.fields;
        if let Some(claims) = fields.get("claims") {
            let claims = |name: &str| claims.get(name).and_then(Value::as_str);
            return Who::token("cognito", claims("sub"), claim, claims(claim));
        }
        if !fields.is_empty() {
            let field = |name: &str| fields.get(name).and_then(Value::as_str);
            return Who::token("lambda_authorizer", field("principalId"), claim, field(claim));
        }
        match context.identity.user_arn.as_deref().filter(|arn| !arn.is_empty()) {
            Some(arn) => Who { kind: "iam", id: arn.to_owned() },
            None => Who::nobody(),
        }
    }

    fn token(kind: &'static str, subject: Option<&str>, claim: &str, project: Option<&str>) -> Who {
        let printable = |value: Option<&str>| -> String {
            value.unwrap_or("").chars().filter(|c| !c.is_control()).take(128).collect()
        };
        let id = format!("sub={} {claim}={}", printable(subject), printable(project));
        Who { kind, id }
    }

    fn nobody() -> Who {
        Who { kind: "none", id: String::new() }
    }
}

/// Whether a pattern names `arn`, or the role of an assumed-role session:
/// `arn:aws:sts::111122223333:assumed-role/cleanup/session` acts as
/// `arn:aws:iam::111122223333:role/cleanup` (a session's ARN drops the role's path).
fn is_trusted(arn: &str, trusted: &[PrincipalPattern]) -> bool {
    let role = role_of_session(arn);
    !arn.is_empty()
        && trusted.iter().any(|p| p.matches(arn) || role.as_deref().is_some_and(|r| p.matches(r)))
}

fn role_of_session(arn: &str) -> Option<String> {
    let (head, resource) = arn.rsplit_once(':')?;
    let (partition_and_service, account) = head.strip_prefix("arn:")?.split_once("::")?;
    let partition = partition_and_service.strip_suffix(":sts")?;
    let (role, _session) = resource.strip_prefix("assumed-role/")?.split_once('/')?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

fn project(claim: Option<&str>) -> Result<Caller, ApiError> {
    match claim {
        Some(project) if !project.is_empty() => Ok(Caller::Project(project.to_owned())),
        _ => Err(ApiError::TokenUnresolved),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn http_api(authorizer: Value) -> Result<Caller, ApiError> {
        let authorizer: Option<ApiGatewayRequestAuthorizer> =
            serde_json::from_value(authorizer).unwrap();
        Caller::of_http_api(authorizer.as_ref(), "project_id")
    }

    fn rest_api(context: Value) -> Result<Caller, ApiError> {
        let mut context_json = json!({"httpMethod": "DELETE"});
        context_json.as_object_mut().unwrap().extend(context.as_object().unwrap().clone());
        let context: ApiGatewayProxyRequestContext = serde_json::from_value(context_json).unwrap();
        Caller::of_rest_api(&context, "project_id")
    }

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    fn patterns(texts: &[&str]) -> Vec<PrincipalPattern> {
        texts.iter().map(|t| PrincipalPattern::parse(t).unwrap()).collect()
    }

    #[test]
    fn who_asked_is_told_for_every_authorizer() {
        let jwt = json!({"jwt": {"claims": {"project_id": "p1", "sub": "u-1"}, "scopes": null}});
        let jwt: Option<ApiGatewayRequestAuthorizer> = serde_json::from_value(jwt).unwrap();
        let who = Who::of_http_api(jwt.as_ref(), "project_id");
        assert_eq!((who.kind, who.id.as_str()), ("jwt", "sub=u-1 project_id=p1"));
        let iam = json!({"iam": {"userArn": "arn:aws:iam::111122223333:role/x"}});
        let iam: Option<ApiGatewayRequestAuthorizer> = serde_json::from_value(iam).unwrap();
        let who = Who::of_http_api(iam.as_ref(), "project_id");
        assert_eq!((who.kind, who.id.as_str()), ("iam", "arn:aws:iam::111122223333:role/x"));
        assert_eq!(Who::of_http_api(None, "project_id").kind, "none");
    }

    #[test]
    fn http_api_jwt_claims_name_the_project() {
        let caller =
            http_api(json!({"jwt": {"claims": {"project_id": "p1", "sub": "u"}, "scopes": null}}));
        assert_eq!(caller, Ok(Caller::Project("p1".into())));
        assert!(caller.unwrap().authorize(&id("p1"), &[]).is_ok());
        let err = http_api(json!({"jwt": {"claims": {"project_id": "p1"}}}))
            .unwrap()
            .authorize(&id("p10"), &[]);
        assert_eq!(err.unwrap_err().code(), "res.1012");
    }

    #[test]
    fn http_api_lambda_authorizer_context_names_the_project() {
        assert_eq!(
            http_api(json!({"lambda": {"project_id": "p1"}})),
            Ok(Caller::Project("p1".into()))
        );
        // Only a string names a project.
        assert_eq!(http_api(json!({"lambda": {"project_id": 7}})), Err(ApiError::TokenUnresolved));
    }

    #[test]
    fn iam_callers_are_trusted_only_when_named() {
        let role = "arn:aws:iam::111122223333:role/cleanup-nightly";
        let caller =
            http_api(json!({"iam": {"accessKey": "AKIA", "accountId": "1", "userArn": role}}));
        assert_eq!(caller, Ok(Caller::Principal(role.into())));
        let caller = caller.unwrap();
        // By default no IAM caller is trusted.
        let err = caller.authorize(&id("any"), &[]).unwrap_err();
        assert_eq!((err.status(), err.code()), (403, "res.1012"));
        assert!(caller.authorize(&id("any"), &patterns(&[role])).is_ok());
        assert!(
            caller
                .authorize(&id("any"), &patterns(&["arn:aws:iam::111122223333:role/cleanup-*"]))
                .is_ok()
        );
        let others = patterns(&[
            "arn:aws:iam::111122223333:role/cleanup",
            "arn:aws:iam::999922223333:role/cleanup-*",
            "arn:aws:iam::111122223333:user/cleanup-nightly",
        ]);
        assert_eq!(caller.authorize(&id("any"), &others).unwrap_err().code(), "res.1012");
        let rest = rest_api(json!({"identity": {"userArn": role, "sourceIp": "1.2.3.4"}}));
        assert_eq!(rest, Ok(Caller::Principal(role.into())));
    }

    #[test]
    fn an_assumed_role_session_is_trusted_as_its_role() {
        let session = "arn:aws:sts::111122223333:assumed-role/cleanup-nightly/i-0abc";
        let caller = Caller::Principal(session.into());
        assert!(
            caller
                .authorize(&id("p"), &patterns(&["arn:aws:iam::111122223333:role/cleanup-*"]))
                .is_ok()
        );
        assert!(caller.authorize(&id("p"), &patterns(&[session])).is_ok());
        // A guest of a Cognito identity pool is a session of the pool's role: trusted only if
        // that role is named.
        let guest = Caller::Principal(
            "arn:aws:sts::111122223333:assumed-role/Cognito_PoolUnauth_Role/CognitoIdentityCredentials".into(),
        );
        assert!(
            guest
                .authorize(&id("p"), &patterns(&["arn:aws:iam::111122223333:role/cleanup-*"]))
                .is_err()
        );
        // An IAM context without an ARN is never trusted.
        let nameless = Caller::Principal(String::new());
        assert!(
            nameless
                .authorize(&id("p"), &patterns(&["arn:aws:iam::111122223333:role/c*"]))
                .is_err()
        );
        assert_eq!(role_of_session("arn:aws:iam::111122223333:role/x"), None);
        assert_eq!(
            role_of_session("arn:aws-cn:sts::111122223333:assumed-role/r/s").as_deref(),
            Some("arn:aws-cn:iam::111122223333:role/r")
        );
    }

    #[test]
    fn no_context_is_an_empty_token_and_a_missing_claim_is_unresolved() {
        assert_eq!(http_api(Value::Null), Err(ApiError::TokenMissing));
        assert_eq!(http_api(json!({})), Err(ApiError::TokenMissing));
        assert_eq!(
            http_api(json!({"jwt": {"claims": {"sub": "u"}}})),
            Err(ApiError::TokenUnresolved)
        );
        assert_eq!(
            http_api(json!({"jwt": {"claims": {"project_id": ""}}})),
            Err(ApiError::TokenUnresolved)
        );
        assert_eq!(
            rest_api(json!({"identity": {"sourceIp": "1.2.3.4"}})),
            Err(ApiError::TokenMissing)
        );
        assert_eq!(
            rest_api(json!({"authorizer": {"claims": {"sub": "u"}}})),
            Err(ApiError::TokenUnresolved)
        );
    }

    #[test]
    fn rest_api_cognito_and_lambda_contexts_name_the_project() {
        let cognito = rest_api(json!({"authorizer": {"claims": {"project_id": "p1", "sub": "u"}}}));
        assert_eq!(cognito, Ok(Caller::Project("p1".into())));
        let lambda = rest_api(json!({"authorizer": {"principalId": "u", "project_id": "p2"}}));
        assert_eq!(lambda, Ok(Caller::Project("p2".into())));
    }

    #[test]
    fn a_custom_claim_name_is_honoured() {
        let authorizer: ApiGatewayRequestAuthorizer =
            serde_json::from_value(json!({"jwt": {"claims": {"custom:project": "p9"}}})).unwrap();
        assert_eq!(
            Caller::of_http_api(Some(&authorizer), "custom:project"),
            Ok(Caller::Project("p9".into()))
        );
        assert_eq!(
            Caller::of_http_api(Some(&authorizer), "project_id"),
            Err(ApiError::TokenUnresolved)
        );
    }
}
