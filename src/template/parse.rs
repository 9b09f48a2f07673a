//! A CloudFormation template (JSON or YAML) as a tree that keeps the line of every key. YAML's
//! short tags (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) become the long forms JSON writes
//! (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`), so one resolver reads both. JSON is read by
//! the same YAML parser (JSON is YAML's flow style) after serde_json has vouched for it, so a
//! JSON mistake is named in JSON's terms.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// A value of the template, at the line (1-based) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    /// Every scalar but a plain `null`/`~`/empty one, as written: CloudFormation reads strings.
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One key of a mapping, the line of the key, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub line: usize,
    pub node: Node,
}

impl Node {
    /// The value of `key` when this is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.node)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

/// Why a template cannot be read: where (line, column; 1-based) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}, column {column}: not valid JSON: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("line {line}, column {column}: not valid YAML: {message}")]
    Yaml {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the file holds no document")]
    Empty,
}

/// Reads a template's text.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    if text.trim_start().starts_with(['{', '['])
        && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text)
    {
        return Err(ParseError::Json {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        });
    }
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| ParseError::Yaml {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_owned(),
        })?;
        if builder.on(event, span) {
            break;
        }
    }
    builder.done.ok_or(ParseError::Empty)
}

/// serde_json's message without its own " at line L column C" (the error says where first).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

enum Open {
    Seq {
        line: usize,
        anchor: usize,
        tag: Option<String>,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        anchor: usize,
        tag: Option<String>,
        entries: Vec<Entry>,
        key: Option<(String, usize)>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    done: Option<Node>,
}

impl Builder {
    /// Takes one event; true once the first document is complete.
    fn on(&mut self, event: Event<'_>, span: Span) -> bool {
        let line = span.start.line();
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = match (style, text.as_ref()) {
                    (ScalarStyle::Plain, "" | "~" | "null" | "Null" | "NULL") if tag.is_none() => {
                        Value::Null
                    }
                    _ => Value::Scalar(text.into_owned()),
                };
                let tag = tag.as_deref().and_then(short_tag);
                self.close(Node { line, value }, anchor, tag)
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    line,
                    value: Value::Null,
                });
                self.close(node, 0, None)
            }
            Event::SequenceStart(anchor, tag) => {
                self.stack.push(Open::Seq {
                    line,
                    anchor,
                    tag: tag.as_deref().and_then(short_tag),
                    items: Vec::new(),
                });
                false
            }
            Event::MappingStart(anchor, tag) => {
                self.stack.push(Open::Map {
                    line,
                    anchor,
                    tag: tag.as_deref().and_then(short_tag),
                    entries: Vec::new(),
                    key: None,
                });
                false
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::Seq {
                    line,
                    anchor,
                    tag,
                    items,
                }) => self.close(
                    Node {
                        line,
                        value: Value::Seq(items),
                    },
                    anchor,
                    tag,
                ),
                Some(Open::Map {
                    line,
                    anchor,
                    tag,
                    entries,
                    ..
                }) => self.close(
                    Node {
                        line,
                        value: Value::Map(entries),
                    },
                    anchor,
                    tag,
                ),
                None => false,
            },
            Event::DocumentEnd => self.done.is_some(),
            _ => false,
        }
    }

    /// A complete node: tagged into its long form, remembered under its anchor, and placed in
    /// its parent (or made the document).
    fn close(&mut self, node: Node, anchor: usize, tag: Option<String>) -> bool {
        let node = match tag {
            Some(name) => long_form(name, node),
            None => node,
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.done.get_or_insert(node);
                false
            }
            Some(Open::Seq { items, .. }) => {
                items.push(node);
                false
            }
            Some(Open::Map { entries, key, .. }) => {
                match key.take() {
                    None => {
                        let text = match &node.value {
                            Value::Scalar(s) => s.clone(),
                            _ => String::new(),
                        };
                        *key = Some((text, node.line));
                    }
                    Some((k, line)) => entries.push(Entry { key: k, line, node }),
                }
                false
            }
        }
    }
}

/// The intrinsic a local tag (`!Ref`, `!GetAtt`, ...) names; `!!str` and other core tags are
/// not intrinsics.
fn short_tag(tag: &Tag) -> Option<String> {
    (tag.handle == "!" && !tag.suffix.is_empty()).then(|| tag.suffix.clone())
}

/// `!Ref X` is `{"Ref": X}`, `!Condition X` is `{"Condition": X}`, `!GetAtt A.B` is
/// `{"Fn::GetAtt": ["A", "B"]}` (split at the first dot, as CloudFormation does), any other
/// `!Name v` is `{"Fn::Name": v}`.
fn long_form(name: String, node: Node) -> Node {
    let line = node.line;
    let key = match name.as_str() {
        "Ref" | "Condition" => name,
        _ => format!("Fn::{name}"),
    };
    let node = match (key.as_str(), &node.value) {
        ("Fn::GetAtt", Value::Scalar(s)) => match s.split_once('.') {
            Some((resource, attribute)) => Node {
                line,
                value: Value::Seq(vec![
                    Node {
                        line,
                        value: Value::Scalar(resource.to_owned()),
                    },
                    Node {
                        line,
                        value: Value::Scalar(attribute.to_owned()),
                    },
                ]),
            },
            None => node,
        },
        _ => node,
    };
    Node {
        line,
        value: Value::Map(vec![Entry { key, line, node }]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scalar(node: &Node) -> &str {
        node.as_str().unwrap()
    }

    #[test]
    fn yaml_short_tags_become_the_long_forms_with_their_lines() {
        let text = "Resources:\n  Perm:\n    Type: AWS::Lambda::Permission\n    Properties:\n      FunctionName: !GetAtt Orders.Arn\n      SourceArn: !Sub 'arn:aws:sns:${AWS::Region}:1:t'\n      Principal: !Ref Who\n";
        let doc = parse(text).unwrap();
        let perm = doc.get("Resources").unwrap().entry("Perm").unwrap();
        assert_eq!(perm.line, 2);
        let props = perm.node.get("Properties").unwrap();
        let getatt = props
            .get("FunctionName")
            .unwrap()
            .get("Fn::GetAtt")
            .unwrap();
        match &getatt.value {
            Value::Seq(items) => {
                assert_eq!(scalar(&items[0]), "Orders");
                assert_eq!(scalar(&items[1]), "Arn");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(getatt.line, 5);
        assert_eq!(
            scalar(props.get("SourceArn").unwrap().get("Fn::Sub").unwrap()),
            "arn:aws:sns:${AWS::Region}:1:t"
        );
        assert_eq!(
            scalar(props.get("Principal").unwrap().get("Ref").unwrap()),
            "Who"
        );
    }

    #[test]
    fn json_keeps_the_line_of_each_key() {
        let text = "{\n  \"Resources\": {\n    \"A\": {\"Type\": \"T\"},\n    \"B\": {\n      \"Type\": \"U\"\n    }\n  }\n}\n";
        let doc = parse(text).unwrap();
        let resources = doc.get("Resources").unwrap();
        assert_eq!(resources.entry("A").unwrap().line, 3);
        assert_eq!(resources.entry("B").unwrap().line, 4);
        assert_eq!(
            scalar(resources.get("B").unwrap().get("Type").unwrap()),
            "U"
        );
    }

    #[test]
    fn bad_input_says_where() {
        match parse("{\n  \"Resources\": {,}\n}") {
            Err(ParseError::Json { line: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
        match parse("Resources:\n  A: [1, 2\n") {
            Err(ParseError::Yaml { line, .. }) => assert!(line >= 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(""), Err(ParseError::Empty));
    }

    #[test]
    fn anchors_are_copied_and_plain_null_is_null() {
        let doc = parse("a: &x {k: v}\nb: *x\nc: ~\nd: 'null'\n").unwrap();
        assert_eq!(doc.get("a"), doc.get("b"));
        assert_eq!(scalar(doc.get("b").unwrap().get("k").unwrap()), "v");
        assert_eq!(doc.get("c").unwrap().value, Value::Null);
        assert_eq!(scalar(doc.get("d").unwrap()), "null");
    }
}
