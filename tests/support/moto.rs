//! A private moto server per test (or one shared per test binary), plus the few AWS fixtures
//! the tests need, created through the real SDK so requests look like production ones.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_lambda::config::Credentials;
use aws_sdk_lambda::operation::get_policy::GetPolicyError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, FunctionCode, Runtime};

use super::http;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const ROLE_NAME: &str = "invokeguard-test";

pub struct Moto {
    /// "http://127.0.0.1:PORT"
    pub endpoint: String,
    child: Child,
    /// Closing this makes the wrapper shell kill moto, which also happens when the test binary
    /// dies without running Drop (a panic in a static, a SIGKILL), so no server outlives it.
    lifeline: Option<ChildStdin>,
    dir: tempfile::TempDir,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn moto_server() -> PathBuf {
    let bin = root().join(".venv/bin/moto_server");
    if !bin.exists() {
        let status = Command::new(root().join("scripts/bootstrap.sh"))
            .arg("python")
            .status()
            .expect("run scripts/bootstrap.sh python");
        assert!(
            status.success(),
            "scripts/bootstrap.sh python failed: {status}"
        );
    }
    assert!(bin.exists(), "{} missing after bootstrap", bin.display());
    bin
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

fn answers_http(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut first = [0u8; 8];
    stream.write_all(req.as_bytes()).is_ok()
        && stream.read_exact(&mut first).is_ok()
        && first.starts_with(b"HTTP/1.")
}

impl Moto {
    /// Starts a fresh server; its log is printed if it fails to come up within 30 s.
    pub fn start() -> Moto {
        let bin = moto_server();
        let dir = tempfile::tempdir().expect("tempdir");
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).expect("create moto log");
        let port = free_port();
        let mut child = Command::new("sh")
            .args([
                "-c",
                r#""$0" -H 127.0.0.1 -p "$1" & pid=$!; read -r _ ; kill "$pid"; wait "$pid""#,
            ])
            .arg(&bin)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn moto_server");
        let lifeline = child.stdin.take();
        let mut moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            lifeline,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if answers_http(port) {
                return moto;
            }
            let exited = moto.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("moto_server on port {port} did not come up ({exited:?}); log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One server for the whole test binary; tests sharing it must use distinct resource names.
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("moto.log")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.child.wait();
    }
}

/// No env vars are read or written: tests run on parallel threads of one process.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

pub async fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&sdk_config(endpoint).await)
}

/// Environment for a spawned binary so its default credential chain lands on `endpoint`.
pub fn env_for_child(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", REGION),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `env_for_child`, plus the policies file the guard binary reads (`INVOKEGUARD_POLICIES`).
pub fn guard_env(endpoint: &str, policies: &std::path::Path) -> Vec<(String, String)> {
    let mut env = env_for_child(endpoint);
    env.push((
        "INVOKEGUARD_POLICIES".into(),
        policies.display().to_string(),
    ));
    env
}

/// Moto's CreateFunction insists the role exists in its IAM. There is no IAM SDK dependency, so
/// this speaks the Query API directly; moto routes by the SigV4 credential scope and does not
/// check the signature.
pub async fn create_role(endpoint: &str) -> String {
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}]
    });
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={ROLE_NAME}&AssumeRolePolicyDocument={}",
        http::url_encode(&trust.to_string())
    );
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/iam/aws4_request, \
         SignedHeaders=host, Signature=0000"
    );
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", auth.as_str()),
    ];
    let resp = http::request(endpoint, "POST", "/", &headers, body.as_bytes())
        .await
        .expect("IAM CreateRole request");
    let text = resp.text();
    assert!(
        resp.status == 200 || text.contains("EntityAlreadyExists"),
        "IAM CreateRole failed: {} {text}",
        resp.status
    );
    format!("arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}")
}

pub async fn create_function(client: &aws_sdk_lambda::Client, name: &str, role: &str) -> String {
    let out = client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .architectures(Architecture::Arm64)
        .role(role)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(bootstrap_zip()))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateFunction {name}: {e:?}"));
    out.function_arn.expect("CreateFunction returns an ARN")
}

/// Returns (version, alias ARN).
pub async fn publish_version_and_alias(
    client: &aws_sdk_lambda::Client,
    name: &str,
    alias: &str,
) -> (String, String) {
    let version = client
        .publish_version()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PublishVersion {name}: {e:?}"))
        .version
        .expect("PublishVersion returns a version");
    let alias_arn = client
        .create_alias()
        .function_name(name)
        .name(alias)
        .function_version(&version)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateAlias {name}:{alias}: {e:?}"))
        .alias_arn
        .expect("CreateAlias returns an ARN");
    (version, alias_arn)
}

/// The parsed policy document, or None when the function (qualifier) has no policy.
pub async fn stored_policy(
    client: &aws_sdk_lambda::Client,
    name: &str,
    qualifier: Option<&str>,
) -> Option<serde_json::Value> {
    let sent = client
        .get_policy()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await;
    match sent {
        Ok(out) => {
            let text = out.policy.expect("GetPolicy returns a policy");
            Some(serde_json::from_str(&text).expect("policy is JSON"))
        }
        Err(e) => match e.into_service_error() {
            GetPolicyError::ResourceNotFoundException(_) => None,
            other => panic!("GetPolicy {name} {qualifier:?}: {other:?}"),
        },
    }
}

/// A valid zip (stored, not deflated) holding an executable `bootstrap` shell script.
pub fn bootstrap_zip() -> Vec<u8> {
    let name = b"bootstrap";
    let data = b"#!/bin/sh\nexit 0\n";
    let crc = crc32(data);
    let size = u32::try_from(data.len()).expect("small file");
    let name_len = u16::try_from(name.len()).expect("short name");
    let mut local = Vec::new();
    local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // version, flags, method, time, date
    for v in [crc, size, size] {
        local.extend_from_slice(&v.to_le_bytes());
    }
    local.extend_from_slice(&name_len.to_le_bytes());
    local.extend_from_slice(&0u16.to_le_bytes());
    local.extend_from_slice(name);
    local.extend_from_slice(data);

    let mut central = Vec::new();
    central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    central.extend_from_slice(&[20, 3]); // made by 2.0 on unix, so the mode bits below count
    central.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
    for v in [crc, size, size] {
        central.extend_from_slice(&v.to_le_bytes());
    }
    central.extend_from_slice(&name_len.to_le_bytes());
    central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attrs
    central.extend_from_slice(&(0o100_755u32 << 16).to_le_bytes());
    central.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    central.extend_from_slice(name);

    let mut end = Vec::new();
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    end.extend_from_slice(&u32::try_from(central.len()).expect("small").to_le_bytes());
    end.extend_from_slice(&u32::try_from(local.len()).expect("small").to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());

    [local, central, end].concat()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Grants `lambda:InvokeFunction` on `function` straight in moto, as a user or a drift would.
pub async fn grant(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    sid: &str,
    principal: &str,
    source_arn: Option<&str>,
    source_account: Option<&str>,
) {
    lambda
        .add_permission()
        .function_name(function)
        .statement_id(sid)
        .action("lambda:InvokeFunction")
        .principal(principal)
        .set_source_arn(source_arn.map(str::to_owned))
        .set_source_account(source_account.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("seed AddPermission {sid}: {e}"));
}

/// Creates `name` with one `lambda:InvokeFunction` grant per `(sid, principal)`, straight in moto
/// (not through any proxy); returns the direct client.
pub async fn function_with_grants(
    endpoint: &str,
    name: &str,
    grants: &[(&str, &str)],
) -> aws_sdk_lambda::Client {
    let lambda = lambda_client(endpoint).await;
    let role = create_role(endpoint).await;
    create_function(&lambda, name, &role).await;
    for (sid, principal) in grants {
        grant(&lambda, name, sid, principal, None, None).await;
    }
    lambda
}
