//! `cosell init --stack NAME` against moto's CloudFormation: the stack's outputs and parameters
//! become the settings file, and `cosell status` then reads the stack's own table with it.

use aws_sdk_cloudformation::types::Parameter;
use serde_json::json;
use tokio::process::Command;

use cosell_testkit::process::{self, cosell};

/// The secrets' ARNs, as the stack's outputs give them (moto's CloudFormation gives no `Ref` of
/// a secret, so the outputs name them as text, as they do the function URLs: moto runs no
/// Lambda).
const CREDENTIALS: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:cosell-credentials-AbCdEf";
const REFRESH_TOKEN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:cosell-refresh-GhIjKl";

/// A stack as `sam deploy` leaves one, as far as init reads it: the outputs of `template.yaml`
/// (the table a real resource) and some of its parameters.
fn template(table: &str) -> String {
    let key = |name: &str, kind: &str| json!({"AttributeName": name, "KeyType": kind});
    let attribute = |name: &str, kind: &str| json!({"AttributeName": name, "AttributeType": kind});
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {
            "DataverseUrl": {"Type": "String"},
            "PartnerCenterTenant": {"Type": "String"},
            "DealValueColumn": {"Type": "String", "Default": "estimatedvalue"},
            "Mapping": {"Type": "String", "Default": ""}
        },
        "Resources": {
            "SyncStateTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": table,
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        attribute("pk", "S"), attribute("sk", "S"),
                        attribute("queue", "S"), attribute("due_ns", "N")
                    ],
                    "KeySchema": [key("pk", "HASH"), key("sk", "RANGE")],
                    "GlobalSecondaryIndexes": [{
                        "IndexName": "retries-by-due",
                        "KeySchema": [key("queue", "HASH"), key("due_ns", "RANGE")],
                        "Projection": {"ProjectionType": "ALL"}
                    }]
                }
            },
        },
        "Outputs": {
            "WebhookUrl": {"Value": "https://ingress.lambda-url.us-east-1.on.aws/"},
            "DataverseWebhookUrl": {"Value": "https://outbound.lambda-url.us-east-1.on.aws/"},
            "SyncStateTableName": {"Value": {"Ref": "SyncStateTable"}},
            "CredentialsSecretArn": {"Value": CREDENTIALS},
            "RefreshTokenSecretArn": {"Value": REFRESH_TOKEN}
        }
    })
    .to_string()
}

/// A stack in moto with `template`'s resources; its name and table.
async fn deployed() -> (String, String) {
    let name = cosell_testkit::unique_table("stack");
    let table = format!("{name}-state");
    let client = aws_sdk_cloudformation::Client::new(&cosell_testkit::aws_config().await);
    let parameter = |key: &str, value: &str| {
        Parameter::builder()
            .parameter_key(key)
            .parameter_value(value)
            .build()
    };
    client
        .create_stack()
        .stack_name(&name)
        .template_body(template(&table))
        .parameters(parameter(
            "DataverseUrl",
            "https://contoso.api.crm.dynamics.com/api/data/v9.2/",
        ))
        .parameters(parameter("PartnerCenterTenant", "contoso.onmicrosoft.com"))
        .send()
        .await
        .expect("moto creates the stack");
    (name, table)
}

/// `cosell ARGS` in `dir`, its AWS calls going to moto.
fn command(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = cosell();
    command
        .args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", cosell_testkit::dynamodb_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    command
}

#[tokio::test]
async fn init_writes_the_stacks_settings_and_status_reads_its_table_with_them() {
    let (stack, table) = deployed().await;
    let dir = tempfile::tempdir().unwrap();

    let (code, stdout, stderr) =
        process::run(command(dir.path(), &["init", "--stack", &stack])).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("cosell.toml written from stack"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(dir.path().join("cosell.toml")).unwrap();
    let settings: toml::Table = written.parse().expect("TOML");
    assert_eq!(settings["COSELL_TABLE"].as_str(), Some(table.as_str()));
    assert_eq!(
        settings["COSELL_DATAVERSE_URL"].as_str(),
        Some("https://contoso.api.crm.dynamics.com/api/data/v9.2/")
    );
    assert_eq!(
        settings["COSELL_PARTNER_CENTER_TENANT"].as_str(),
        Some("contoso.onmicrosoft.com")
    );
    assert_eq!(
        settings["COSELL_WEBHOOK_URL"].as_str(),
        Some("https://ingress.lambda-url.us-east-1.on.aws/")
    );
    assert_eq!(
        settings["COSELL_REFRESH_TOKEN_SECRET"].as_str(),
        Some(REFRESH_TOKEN)
    );
    assert_eq!(
        settings["COSELL_CREDENTIALS_SECRET"].as_str(),
        Some(CREDENTIALS)
    );
    assert!(
        !settings.contains_key("COSELL_MAPPING"),
        "empty: the default"
    );

    // The file works: status reads the stack's table through it.
    let config = dir.path().join("cosell.toml");
    let config = config.to_str().unwrap();
    let (code, stdout, stderr) =
        process::run(command(dir.path(), &["--config", config, "status"])).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("pending 0"), "{stdout}");

    // A second init does not overwrite the file unless told to.
    std::fs::write(dir.path().join("cosell.toml"), "# mine\n").unwrap();
    let (code, _, stderr) = process::run(command(dir.path(), &["init", "--stack", &stack])).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    let kept = std::fs::read_to_string(dir.path().join("cosell.toml")).unwrap();
    assert_eq!(kept, "# mine\n");
    let forced = command(
        dir.path(),
        &["--json", "init", "--stack", &stack, "--force"],
    );
    let (code, stdout, stderr) = process::run(forced).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let written: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(written["stack"], stack.as_str());
    assert_eq!(written["settings"].as_u64(), Some(settings.len() as u64));
}

#[tokio::test]
async fn a_stack_that_is_not_there_is_named_with_where_it_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        process::run(command(dir.path(), &["init", "--stack", "no-such-stack"])).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("no stack no-such-stack in us-east-1"),
        "{stderr}"
    );
    assert!(!dir.path().join("cosell.toml").exists());
}
