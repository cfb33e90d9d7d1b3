//! Least privilege, checked: the IAM actions `template.yaml` grants each function must be exactly
//! the actions its code can call — no more (a grant no code path uses fails), no fewer.
//!
//! What the code calls is read from the source, not from a list kept by hand:
//! 1. which sync-state port methods each function reaches — the port method names called in the
//!    function's crate and in the use-case modules it runs (the table [`FUNCTIONS`]);
//! 2. which DynamoDB requests each port method makes — the DynamoDB adapter's `impl SyncStore`
//!    delegates each method to a module function, whose SDK calls (`get_item()`, `query()`,
//!    `Put::builder()` inside a transaction…) name the IAM actions;
//! 3. Secrets Manager: every function loads the credentials (`GetSecretValue`) and, holding a
//!    Partner Center client, writes a rotated refresh token back (`PutSecretValue`, then
//!    `UpdateSecretVersionStage` to make it current only if no one wrote meanwhile) — all read off
//!    `shared/secrets` — and writes only the refresh token's own secret.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each function: its template resource, and the source folders and files it runs.
const FUNCTIONS: &[(&str, &[&str])] = &[
    (
        "WebhookIngressFunction",
        &[
            "functions/webhook-ingress/src",
            "shared/sync/src/inbound",
            "shared/sync/src/mapping.rs",
            "shared/sync/src/activity.rs",
            "shared/sync/src/record.rs",
            "shared/sync/src/record",
            "shared/sync/src/link.rs",
            "shared/sync/src/intent.rs",
        ],
    ),
    (
        "OutboundSyncFunction",
        &[
            "functions/outbound-sync/src",
            "shared/sync/src/outbound",
            "shared/sync/src/mapping.rs",
            "shared/sync/src/activity.rs",
            "shared/sync/src/record.rs",
            "shared/sync/src/record",
            "shared/sync/src/link.rs",
            "shared/sync/src/intent.rs",
        ],
    ),
    (
        "RetrySchedulerFunction",
        &["functions/retry-scheduler/src", "shared/sync/src"],
    ),
];

/// The sync-state port's methods (shared/store/src/port.rs).
const PORT_METHODS: &[&str] = &[
    "record_event",
    "claim_event",
    "finish_event",
    "forget_event",
    "link_by_referral",
    "link_by_crm",
    "put_link",
    "cursor",
    "put_cursor",
    "put_retry",
    "retry",
    "due_retries",
    "dead_retries",
    "delete_retry",
    "acquire_lease",
    "release_lease",
];

/// SDK calls and transaction parts, and the IAM action each needs.
const SDK_ACTIONS: &[(&str, &str)] = &[
    (".get_item()", "dynamodb:GetItem"),
    (".put_item()", "dynamodb:PutItem"),
    (".delete_item()", "dynamodb:DeleteItem"),
    (".update_item()", "dynamodb:UpdateItem"),
    (".query()", "dynamodb:Query"),
    (".scan()", "dynamodb:Scan"),
    ("Put::builder()", "dynamodb:PutItem"),
    ("Delete::builder()", "dynamodb:DeleteItem"),
    ("Update::builder()", "dynamodb:UpdateItem"),
    ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
    (".get_secret_value()", "secretsmanager:GetSecretValue"),
    (".put_secret_value()", "secretsmanager:PutSecretValue"),
    (
        ".update_secret_version_stage()",
        "secretsmanager:UpdateSecretVersionStage",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `.rs` file under `path` (or `path` itself), concatenated, comments dropped.
fn source(path: &str) -> String {
    let full = root().join(path);
    let mut files = Vec::new();
    let mut stack = vec![full];
    while let Some(next) = stack.pop() {
        if next.is_dir() {
            for entry in std::fs::read_dir(&next).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if next.extension().is_some_and(|e| e == "rs") {
            files.push(next);
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .flat_map(|text| {
            text.lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(|l| format!("{l}\n"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The actions named by SDK calls in `text`.
fn actions_in(text: &str) -> BTreeSet<&'static str> {
    SDK_ACTIONS
        .iter()
        .filter(|(call, _)| text.contains(call))
        .map(|(_, action)| *action)
        .collect()
}

/// The body of `fn name` in `text`: from its signature to the next function declared at the
/// same or a lower indentation (good enough for these small modules).
fn body_of<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("fn {name}("))?;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = text[line_start..].len() - text[line_start..].trim_start().len();
    let mut offset = start;
    for line in text[start..].split_inclusive('\n').skip(1) {
        offset += text[offset..].find(line).unwrap_or(0);
        let trimmed = line.trim_start();
        let line_indent = line.len() - trimmed.len();
        let declares = [
            "fn ",
            "async fn ",
            "pub fn ",
            "pub async fn ",
            "pub(super) fn ",
            "pub(super) async fn ",
        ]
        .iter()
        .any(|p| trimmed.starts_with(p));
        if declares && line_indent <= indent {
            return Some(&text[start..offset]);
        }
    }
    Some(&text[start..])
}

/// The actions `function` in `module_text` needs, following calls to the module's own helpers.
fn module_actions(
    module_text: &str,
    function: &str,
    seen: &mut BTreeSet<String>,
) -> BTreeSet<&'static str> {
    if !seen.insert(function.to_owned()) {
        return BTreeSet::new();
    }
    let Some(body) = body_of(module_text, function) else {
        return BTreeSet::new();
    };
    let mut actions = actions_in(body);
    let words: BTreeSet<&str> = body
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    for word in words {
        if word != function
            && body.contains(&format!("{word}("))
            && module_text.contains(&format!("fn {word}("))
        {
            actions.extend(module_actions(module_text, word, seen));
        }
    }
    actions
}

/// Port method → the IAM actions the DynamoDB adapter's implementation needs.
fn store_actions() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let adapter = read("shared/store/src/dynamodb/mod.rs");
    PORT_METHODS
        .iter()
        .map(|method| {
            let delegate = body_of(&adapter, method)
                .unwrap_or_else(|| panic!("the adapter does not implement {method}"));
            // `links::put(self, link)` → module `links`, function `put`.
            let call = delegate
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .find(|word| word.contains("::") && !word.starts_with("Self"))
                .unwrap_or_else(|| panic!("{method} delegates to no module function"));
            let (module, function) = call.split_once("::").unwrap();
            let module_text = read(&format!("shared/store/src/dynamodb/{module}.rs"));
            let actions = module_actions(&module_text, function, &mut BTreeSet::new());
            assert!(!actions.is_empty(), "{method} ({call}) makes no request?");
            (*method, actions)
        })
        .collect()
}

/// The actions each function resource is granted, from its `Policies` statements.
fn granted() -> BTreeMap<String, BTreeSet<String>> {
    let template = read("template.yaml");
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in template.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            current = Some(line.trim().trim_end_matches(':').to_owned());
        }
        if let (Some(resource), Some(list)) = (&current, line.trim().strip_prefix("Action: [")) {
            let list = list.trim_end_matches(']');
            grants
                .entry(resource.clone())
                .or_default()
                .extend(list.split(',').map(|a| a.trim().to_owned()));
        }
        if let (Some(_), true) = (
            &current,
            line.trim() == "Resource: \"*\"" || line.trim() == "Resource: '*'",
        ) {
            panic!("a statement grants on every resource: {line}");
        }
    }
    grants
}

#[test]
fn each_function_is_granted_exactly_what_its_code_calls() {
    let store = store_actions();
    let secrets = actions_in(&source("shared/secrets/src"));
    assert_eq!(
        secrets,
        BTreeSet::from([
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
        ])
    );
    let granted = granted();
    for (resource, paths) in FUNCTIONS {
        let code: String = paths.iter().map(|p| source(p)).collect();
        let mut needed: BTreeSet<&str> = secrets.clone();
        for (method, actions) in &store {
            if code.contains(&format!(".{method}(")) {
                needed.extend(actions);
            }
        }
        let needed: BTreeSet<String> = needed.into_iter().map(str::to_owned).collect();
        let given = granted
            .get(*resource)
            .unwrap_or_else(|| panic!("{resource} has no statements in template.yaml"));
        let unused: Vec<_> = given.difference(&needed).collect();
        let missing: Vec<_> = needed.difference(given).collect();
        assert!(
            unused.is_empty() && missing.is_empty(),
            "{resource}: granted but never called {unused:?}; called but not granted {missing:?}"
        );
    }
}

/// The functions may read both secrets but write only the refresh token's own: every statement
/// granting a Secrets Manager write names `RefreshTokenSecret` alone.
#[test]
fn functions_write_only_the_refresh_token_secret() {
    let template = read("template.yaml");
    let lines: Vec<&str> = template.lines().collect();
    let mut writes = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(actions) = line.trim().strip_prefix("Action: [") else {
            continue;
        };
        if !actions.contains("secretsmanager:Put") && !actions.contains("UpdateSecretVersionStage")
        {
            continue;
        }
        writes += 1;
        let resource = lines[i + 1].trim();
        assert_eq!(
            resource, "Resource: !Ref RefreshTokenSecret",
            "a secret write on anything else: {line}"
        );
    }
    assert_eq!(
        writes,
        FUNCTIONS.len(),
        "each function writes the token back"
    );
}

#[test]
fn the_scan_sees_what_it_must() {
    // The reader is only as good as its parsing: pin what it finds for methods whose requests are
    // known, so a change that blinds it fails here instead of passing everything.
    let store = store_actions();
    assert_eq!(store["due_retries"], BTreeSet::from(["dynamodb:Query"]));
    // put_link reads the stored link (to release a CRM id it no longer claims), then writes the
    // link and the claim in one transaction, deleting the released claim.
    assert_eq!(
        store["put_link"],
        BTreeSet::from([
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem"
        ])
    );
    assert_eq!(store["cursor"], BTreeSet::from(["dynamodb:GetItem"]));
    assert!(granted()["RetrySchedulerFunction"].contains("dynamodb:Query"));
    assert!(!granted()["WebhookIngressFunction"].contains("dynamodb:Query"));
}
