//! The guard's tracing spans: an `event` span (request id, input), a `record` span (input,
//! eventID) and a `policy` span (function, qualifier) around the reconcile of each policy, so
//! that any subscriber sees the context the typed log lines carry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use invokeguard::allowlist::Allowlist;
use invokeguard::aws::home::Home;
use invokeguard::guard::memory::MemoryAws;
use invokeguard::guard::{Guard, Level, MemorySink, Settings};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const HOME: &str = "111122223333";

/// A span's or event's fields, as text.
#[derive(Debug, Clone, Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// An event and the spans it happened in, outermost first: (name, fields).
type Seen = (Fields, Vec<(&'static str, Fields)>);

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let scope = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| {
                        let f = span.extensions().get::<Fields>().cloned();
                        (span.name(), f.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push((fields, scope));
    }
}

#[tokio::test]
async fn each_policy_is_reconciled_inside_a_span_naming_its_function_and_qualifier() {
    let recorder = Recorder::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let aws = MemoryAws::with_functions(&["f"]);
    aws.set_statements(
        "f",
        Some("live"),
        json!([{"Sid": "open", "Effect": "Allow",
        "Principal": "*", "Action": "lambda:InvokeFunction"}]),
    );
    let text = json!({"version": 1, "functions": {"f": {"allow": []}}}).to_string();
    let policies = Allowlist::from_json(&text, "test", None).unwrap();
    policies
        .set_home(Home::new("aws", "us-east-1", HOME).unwrap())
        .unwrap();
    let settings = Settings {
        log_level: Level::Debug,
        ..Settings::default()
    };
    let guard = Guard::new(policies, aws, Arc::new(MemorySink::default()), settings);
    let record = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
        "eventID": "e1", "userIdentity": {"type": "AWSAccount", "accountId": "999999999999"},
        "requestParameters": {"functionName": "f", "qualifier": "live"},
        "resources": [{"type": "AWS::Lambda::Function",
            "ARN": "arn:aws:lambda:us-east-1:111122223333:function:f:live"}]});
    let report = guard.handle_event(record, "req-7").await.unwrap();
    assert_eq!(report.removed, 1);

    let seen = recorder.0.lock().unwrap().clone();
    let planned: Vec<&Seen> = seen
        .iter()
        .filter(|(fields, _)| fields.0.get("message").map(String::as_str) == Some("planned"))
        .collect();
    assert_eq!(planned.len(), 1, "{seen:?}");
    let scope: Vec<(&str, &BTreeMap<String, String>)> =
        planned[0].1.iter().map(|(name, f)| (*name, &f.0)).collect();
    let names: Vec<&str> = scope.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["event", "record", "policy"]);
    assert_eq!(scope[0].1["request_id"], "req-7");
    assert_eq!(scope[0].1["input"], "records");
    assert_eq!(scope[1].1["input"], "invoke");
    assert_eq!(scope[1].1["event_id"], "e1");
    assert_eq!(scope[2].1["function"], "f");
    assert_eq!(scope[2].1["qualifier"], "live");
}
