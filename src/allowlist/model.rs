//! The policies file as typed data: which callers may invoke each guarded function.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::aws::ids::{
    AccountId, EventSourceToken, FunctionKey, OrganizationId, PrincipalArn, Qualifier,
    ServicePrincipal, SourceArnPattern,
};

/// The whole policies file (`policies/invokers.json`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "invokeguard policies file")]
pub struct PoliciesFile {
    /// Path or URL of this file's JSON Schema, for editors.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Format version; only 1 exists.
    pub version: FormatVersion,
    /// Settings applied to every function unless it overrides them.
    #[serde(default)]
    pub defaults: Defaults,
    /// Guarded functions, keyed by function name or unqualified function ARN.
    pub functions: UniqueMap<FunctionKey, GuardedFunction>,
}

/// The format version of the policies file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct FormatVersion;

impl TryFrom<u64> for FormatVersion {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        if v == 1 {
            Ok(Self)
        } else {
            Err(format!("expected version 1, got {v}"))
        }
    }
}

impl From<FormatVersion> for u64 {
    fn from(_: FormatVersion) -> u64 {
        1
    }
}

impl JsonSchema for FormatVersion {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("FormatVersion")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": 1 })
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Defaults {
    /// What to do on a violation when a function sets no mode of its own.
    #[serde(default)]
    pub mode: Mode,
    /// How a reconcile writes the policy when a function sets no `apply` of its own.
    #[serde(default)]
    pub apply: Apply,
}

/// How a plan is applied. `permissions`: one RemovePermission/AddPermission per statement
/// changed, falling back to one PutResourcePolicy when a statement to remove has no Sid of its
/// own or an addition does not fit; `document`: always one PutResourcePolicy of the whole policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Apply {
    #[default]
    Permissions,
    Document,
}

impl Apply {
    /// The serde name, for text outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Apply::Permissions => "permissions",
            Apply::Document => "document",
        }
    }
}

/// `enforce` rewrites the resource policy; `report` only logs and notifies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Report,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }
    }
}

/// The allowlist and settings of one guarded function.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GuardedFunction {
    /// Overrides `defaults.mode` for this function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Overrides `defaults.apply` for this function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<Apply>,
    /// Aliases or versions whose own resource policies are managed too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qualifiers: Vec<Qualifier>,
    /// Every caller allowed to invoke the function; `[]` means nobody through the resource policy.
    pub allow: Vec<AllowEntry>,
}

/// One allowed caller: exactly one of `service`, `account`, `principal`, `organization`,
/// `functionUrl`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "RawAllowEntry", into = "RawAllowEntry")]
pub struct AllowEntry {
    pub grant: Grant,
    /// What the caller may call: `lambda:InvokeFunction`, or `lambda:InvokeFunctionUrl` through
    /// a function URL of auth type AWS_IAM (account, principal and organization entries).
    pub action: InvokeAction,
    pub reason: Option<String>,
}

/// What an allow entry grants, in the terms `AddPermission` can express.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grant {
    Service(ServiceGrant),
    Account(AccountId),
    Principal(PrincipalArn),
    Organization(OrganizationId),
    /// Anyone, through the function URL of auth type NONE: the pair of statements AWS requires.
    PublicUrl,
}

/// An AWS service invoking through the resource policy, with the conditions that pin the
/// resource (and account) it acts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceGrant {
    pub service: ServicePrincipal,
    pub source_arn: Option<SourceArnPattern>,
    pub source_account: Option<AccountId>,
    pub event_source_token: Option<EventSourceToken>,
}

impl ServiceGrant {
    /// The policy conditions this grant is written with: (lower-cased key, value), the source
    /// ARN matched with `ArnLike`, the others with `StringEquals`.
    pub fn conditions(&self) -> Vec<(&'static str, &str)> {
        [
            (
                "aws:sourcearn",
                self.source_arn.as_ref().map(|v| v.as_str()),
            ),
            (
                "aws:sourceaccount",
                self.source_account.as_ref().map(|v| v.as_str()),
            ),
            (
                "lambda:eventsourcetoken",
                self.event_source_token.as_ref().map(|v| v.as_str()),
            ),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key, value?)))
        .collect()
    }
}

impl Grant {
    pub fn kind(&self) -> &'static str {
        match self {
            Grant::Service(_) => "service",
            Grant::Account(_) => "account",
            Grant::Principal(_) => "principal",
            Grant::Organization(_) => "organization",
            Grant::PublicUrl => "functionurl",
        }
    }
}

/// The invoke action an entry grants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
pub enum InvokeAction {
    #[default]
    #[serde(rename = "lambda:InvokeFunction")]
    InvokeFunction,
    #[serde(rename = "lambda:InvokeFunctionUrl")]
    InvokeFunctionUrl,
}

impl InvokeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            InvokeAction::InvokeFunction => "lambda:InvokeFunction",
            InvokeAction::InvokeFunctionUrl => "lambda:InvokeFunctionUrl",
        }
    }
}

/// The one value of `functionUrl`: a public URL (auth type NONE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FunctionUrlAccess {
    Public,
}

/// The wire shape of an allow entry, before the exactly-one-kind rule is checked.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAllowEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<ServicePrincipal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_arn: Option<SourceArnPattern>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_account: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_source_token: Option<EventSourceToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    principal: Option<PrincipalArn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    organization: Option<OrganizationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    function_url: Option<FunctionUrlAccess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action: Option<InvokeAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

const MAX_REASON_LEN: usize = 256;

impl TryFrom<RawAllowEntry> for AllowEntry {
    type Error = String;
    fn try_from(raw: RawAllowEntry) -> Result<Self, String> {
        if let Some(reason) = &raw.reason
            && reason.chars().count() > MAX_REASON_LEN
        {
            return Err(format!("reason is longer than {MAX_REASON_LEN} characters"));
        }
        const KINDS: &str =
            "\"service\", \"account\", \"principal\", \"organization\", \"functionUrl\"";
        let kinds = [
            raw.service.is_some(),
            raw.account.is_some(),
            raw.principal.is_some(),
            raw.organization.is_some(),
            raw.function_url.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            0 => return Err(format!("expected exactly one of {KINDS}, got none")),
            1 => {}
            _ => return Err(format!("expected exactly one of {KINDS}, got several")),
        }
        if raw.service.is_none()
            && (raw.source_arn.is_some()
                || raw.source_account.is_some()
                || raw.event_source_token.is_some())
        {
            return Err(
                "\"sourceArn\", \"sourceAccount\" and \"eventSourceToken\" apply only to a \"service\" entry"
                    .to_owned(),
            );
        }
        if raw.action.is_some() && (raw.service.is_some() || raw.function_url.is_some()) {
            return Err(
                "\"action\" applies only to \"account\", \"principal\" and \"organization\" entries"
                    .to_owned(),
            );
        }
        let grant = match (raw.service, raw.account, raw.principal, raw.organization) {
            (Some(service), ..) => Grant::Service(ServiceGrant {
                service,
                source_arn: raw.source_arn,
                source_account: raw.source_account,
                event_source_token: raw.event_source_token,
            }),
            (_, Some(a), ..) => Grant::Account(a),
            (_, _, Some(p), _) => Grant::Principal(p),
            (.., Some(o)) => Grant::Organization(o),
            (None, None, None, None) => Grant::PublicUrl,
        };
        Ok(AllowEntry {
            grant,
            action: raw.action.unwrap_or_default(),
            reason: raw.reason,
        })
    }
}

impl From<AllowEntry> for RawAllowEntry {
    fn from(entry: AllowEntry) -> Self {
        let mut raw = RawAllowEntry {
            reason: entry.reason,
            action: (entry.action != InvokeAction::InvokeFunction).then_some(entry.action),
            ..RawAllowEntry::default()
        };
        match entry.grant {
            Grant::Service(s) => {
                raw.service = Some(s.service);
                raw.source_arn = s.source_arn;
                raw.source_account = s.source_account;
                raw.event_source_token = s.event_source_token;
            }
            Grant::Account(a) => raw.account = Some(a),
            Grant::Principal(p) => raw.principal = Some(p),
            Grant::Organization(o) => raw.organization = Some(o),
            Grant::PublicUrl => raw.function_url = Some(FunctionUrlAccess::Public),
        }
        raw
    }
}

impl JsonSchema for AllowEntry {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("AllowEntry")
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let reason = json_schema!({
            "type": "string", "maxLength": MAX_REASON_LEN,
            "description": "Why this caller is expected; copied into every log line it decides."
        });
        let action = g.subschema_for::<InvokeAction>();
        let one = |key: &str, value: Schema, description: &str| {
            json_schema!({
                "type": "object",
                "description": description,
                "properties": { key: value, "action": action.clone(), "reason": reason.clone() },
                "required": [key],
                "additionalProperties": false
            })
        };
        let service = json_schema!({
            "type": "object",
            "description": "An AWS service invoking through the resource policy; set sourceArn and/or sourceAccount to avoid the confused-deputy problem.",
            "properties": {
                "service": g.subschema_for::<ServicePrincipal>(),
                "sourceArn": g.subschema_for::<SourceArnPattern>(),
                "sourceAccount": g.subschema_for::<AccountId>(),
                "eventSourceToken": g.subschema_for::<EventSourceToken>(),
                "reason": reason.clone()
            },
            "required": ["service"],
            "additionalProperties": false
        });
        json_schema!({
            "description": "One allowed caller: exactly one of service, account, principal, organization, functionUrl.",
            "oneOf": [
                service,
                one("account", g.subschema_for::<AccountId>(), "Another AWS account, as a whole."),
                one("principal", g.subschema_for::<PrincipalArn>(), "One IAM principal (role, user or account root)."),
                one("organization", g.subschema_for::<OrganizationId>(), "Any principal of an AWS Organization (aws:PrincipalOrgID)."),
                json_schema!({
                    "type": "object",
                    "description": "Anyone, through the function URL of auth type NONE (lambda:InvokeFunctionUrl with lambda:FunctionUrlAuthType NONE, and lambda:InvokeFunction with lambda:InvokedViaFunctionUrl true).",
                    "properties": { "functionUrl": g.subschema_for::<FunctionUrlAccess>(), "reason": reason.clone() },
                    "required": ["functionUrl"],
                    "additionalProperties": false
                })
            ]
        })
    }
}

/// A JSON object read into a sorted map that rejects duplicate keys instead of keeping the last.
#[derive(Debug, Clone, Serialize)]
pub struct UniqueMap<K: Ord, V>(pub BTreeMap<K, V>);

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Ord + Deserialize<'de> + fmt::Display,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UniqueVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for UniqueVisitor<K, V>
        where
            K: Ord + Deserialize<'de> + fmt::Display,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<K>()? {
                    if out.contains_key(&key) {
                        return Err(de::Error::custom(format!(
                            "duplicate key {:?}",
                            key.to_string()
                        )));
                    }
                    let value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(UniqueMap(out))
            }
        }
        deserializer.deserialize_map(UniqueVisitor(PhantomData))
    }
}

impl<K: Ord + JsonSchema, V: JsonSchema> JsonSchema for UniqueMap<K, V> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Owned(format!("Map_of_{}", V::schema_name()))
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": g.subschema_for::<K>(),
            "additionalProperties": g.subschema_for::<V>()
        })
    }
}
