//! `cosell init --stack NAME`: the `cosell.toml` every other command reads, written from what
//! CloudFormation knows of the deployed stack, instead of copied by hand after `sam deploy`.
//!
//! The outputs give the table, the two secrets and the two webhook URLs. The parameters give
//! every other setting, under the `COSELL_*` name `template.yaml` hands it to the functions as
//! (read from the template this binary was built with), so the CLI runs with the functions'
//! own values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Stack, StackStatus};
use serde::Serialize;

use crate::config::keys;
use crate::context::Context;
use crate::output::{self, OK, Report};

/// `cosell init` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The CloudFormation stack `sam deploy` created (`stack_name` in samconfig.toml).
    #[arg(long, value_name = "NAME")]
    stack: String,
    /// Replace the settings file when it exists.
    #[arg(long)]
    force: bool,
}

/// The file written when no `--config` names one.
pub const DEFAULT_FILE: &str = "cosell.toml";

/// The template this binary was built with: its `COSELL_*: !Ref Parameter` lines say which
/// parameter each setting is.
const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The stack outputs `cosell.toml` needs, and the setting each becomes.
pub const OUTPUTS: [(&str, &str); 5] = [
    ("SyncStateTableName", keys::TABLE),
    ("CredentialsSecretArn", "COSELL_CREDENTIALS_SECRET"),
    ("RefreshTokenSecretArn", "COSELL_REFRESH_TOKEN_SECRET"),
    ("WebhookUrl", keys::WEBHOOK_URL),
    ("DataverseWebhookUrl", keys::DATAVERSE_WEBHOOK_URL),
];

/// `(setting, parameter)` for each `COSELL_*: !Ref X` line of the template (X a parameter or a
/// resource; only parameters have a value on the stack).
pub fn template_settings() -> Vec<(&'static str, &'static str)> {
    let mut settings: Vec<_> = TEMPLATE
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().split_once(": !Ref ")?;
            name.starts_with("COSELL_").then_some((name, value.trim()))
        })
        .collect();
    settings.sort();
    settings.dedup();
    settings
}

pub fn main(ctx: &Context, args: Args) -> ExitCode {
    let path = ctx
        .config_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    match ctx.block_on(init(&args, &path)) {
        Ok(settings) => {
            let written = Written {
                file: path,
                stack: args.stack,
                settings,
            };
            output::print(ctx.format, &written)
        }
        Err(error) => output::fail(ctx.format, "init", &error),
    }
}

/// What init wrote.
#[derive(Debug, Serialize)]
struct Written {
    file: PathBuf,
    stack: String,
    /// How many settings the file holds.
    settings: usize,
}

impl Report for Written {
    fn human(&self) -> String {
        let file = self.file.display();
        format!(
            "{OK} {file} written from stack {}\n  {} settings; next: cosell --config {file} login\n",
            self.stack, self.settings
        )
    }
}

/// Reads the stack and writes the file; the number of settings written.
async fn init(args: &Args, path: &Path) -> anyhow::Result<usize> {
    if path.exists() && !args.force {
        bail!(
            "{} exists; `--force` replaces it (or `--config FILE` writes another)",
            path.display()
        );
    }
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let region = aws.region().map(ToString::to_string);
    let client = aws_sdk_cloudformation::Client::new(&aws);
    let described = client
        .describe_stacks()
        .stack_name(&args.stack)
        .send()
        .await;
    let region_text = region.as_deref().unwrap_or("the default region");
    let stacks = match described {
        Ok(described) => described.stacks.unwrap_or_default(),
        Err(error) if is_missing(&error) => {
            bail!(
                "no stack {} in {region_text}: deploy it first (`sam deploy`), or set AWS_REGION \
                 to the region it is in",
                args.stack
            )
        }
        Err(error) => {
            return Err(error).with_context(|| format!("reading stack {}", args.stack));
        }
    };
    let Some(stack) = stacks.into_iter().next() else {
        bail!("no stack {} in {region_text}", args.stack);
    };
    let settings = settings(&stack)?;
    let text = document(&args.stack, region.as_deref(), &settings);
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(settings.len())
}

/// CloudFormation answers a missing stack with a `ValidationError` ("Stack with id X does not
/// exist").
fn is_missing(error: &impl ProvideErrorMetadata) -> bool {
    error.code() == Some("ValidationError")
        && error
            .message()
            .is_some_and(|m| m.contains("does not exist"))
}

/// The settings of a stack that finished deploying: every output and parameter that has one.
pub fn settings(stack: &Stack) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let name = stack.stack_name().unwrap_or_default();
    let status = stack.stack_status();
    let usable = matches!(
        status,
        Some(StackStatus::CreateComplete | StackStatus::UpdateComplete)
            | Some(StackStatus::UpdateRollbackComplete)
    );
    if !usable {
        let status = status.map_or("unknown", StackStatus::as_str);
        bail!("stack {name} is {status}: init reads a stack whose deploy completed");
    }
    let outputs: BTreeMap<&str, &str> = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?, o.output_value()?)))
        .collect();
    let parameters: BTreeMap<&str, &str> = stack
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?, p.parameter_value()?)))
        .collect();
    let mut settings = BTreeMap::new();
    let mut missing = Vec::new();
    for (output, setting) in OUTPUTS {
        match outputs.get(output) {
            Some(value) => {
                settings.insert(setting, (*value).to_owned());
            }
            None => missing.push(output),
        }
    }
    if !missing.is_empty() {
        bail!(
            "stack {name} has no output {}: it was deployed from another template; deploy this \
             version's template.yaml, then run init again",
            missing.join(", ")
        );
    }
    for (setting, parameter) in template_settings() {
        // Empty means "the default" in the template; NoEcho values come back masked.
        match parameters.get(parameter) {
            Some(value) if !value.is_empty() && *value != "****" => {
                settings.insert(setting, (*value).to_owned());
            }
            _ => {}
        }
    }
    Ok(settings)
}

/// The TOML document: one `COSELL_* = "value"` line each, under a header saying where they
/// came from.
pub fn document(stack: &str, region: Option<&str>, settings: &BTreeMap<&str, String>) -> String {
    let region = region.unwrap_or("the default region");
    let mut text = format!(
        "# Written by `cosell init --stack {stack}` from the stack's outputs and parameters\n\
         # ({region}): the values the functions run with. After a `sam deploy` that changes a\n\
         # parameter, run init again (`--force`). Environment variables win over this file.\n"
    );
    for (name, value) in settings {
        let value = toml::Value::String(value.clone());
        text.push_str(&format!("{name} = {value}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::{Output, Parameter};

    fn stack(status: StackStatus, outputs: &[(&str, &str)], parameters: &[(&str, &str)]) -> Stack {
        let output =
            |(k, v): &(&str, &str)| Output::builder().output_key(*k).output_value(*v).build();
        let parameter = |(k, v): &(&str, &str)| {
            Parameter::builder()
                .parameter_key(*k)
                .parameter_value(*v)
                .build()
        };
        Stack::builder()
            .stack_name("cosell")
            .stack_status(status)
            .set_outputs(Some(outputs.iter().map(output).collect()))
            .set_parameters(Some(parameters.iter().map(parameter).collect()))
            .build()
    }

    fn every_output() -> Vec<(&'static str, &'static str)> {
        OUTPUTS
            .iter()
            .map(|(output, _)| (*output, "value"))
            .collect()
    }

    #[test]
    fn every_output_init_reads_is_one_the_template_declares() {
        let outputs = TEMPLATE
            .split("\nOutputs:")
            .nth(1)
            .expect("an Outputs section");
        for (output, _) in OUTPUTS {
            assert!(outputs.contains(&format!("\n  {output}:")), "{output}");
        }
    }

    #[test]
    fn every_setting_the_template_hands_the_functions_is_a_parameter_or_an_output() {
        let parameters = TEMPLATE.split("\nParameters:").nth(1).unwrap();
        let parameters = parameters.split("\nConditions:\n").next().unwrap();
        let from_outputs: Vec<&str> = OUTPUTS.iter().map(|(_, setting)| *setting).collect();
        let settings = template_settings();
        assert!(settings.len() > 40, "{settings:?}");
        for (setting, reference) in settings {
            let declared = parameters.contains(&format!("\n  {reference}:"));
            assert!(
                declared || from_outputs.contains(&setting),
                "{setting} is !Ref {reference}: neither a parameter nor an output init reads"
            );
        }
    }

    #[test]
    fn a_stack_gives_its_outputs_and_the_parameters_with_a_value() {
        let parameters = [
            (
                "DataverseUrl",
                "https://contoso.api.crm.dynamics.com/api/data/v9.2/",
            ),
            ("DealValueColumn", "new_dealvalue"),
            ("Mapping", ""),
            ("Architecture", "arm64"),
        ];
        let stack = stack(StackStatus::UpdateComplete, &every_output(), &parameters);
        let settings = settings(&stack).unwrap();
        assert_eq!(settings["COSELL_DATAVERSE_URL"], parameters[0].1);
        assert_eq!(settings["COSELL_DEAL_VALUE_COLUMN"], "new_dealvalue");
        assert_eq!(settings[keys::TABLE], "value");
        assert!(
            !settings.contains_key("COSELL_MAPPING"),
            "empty is the default"
        );
        assert_eq!(settings.len(), OUTPUTS.len() + 2, "{settings:?}");
    }

    #[test]
    fn a_stack_still_deploying_or_from_another_template_is_refused_with_the_reason() {
        let deploying = stack(StackStatus::CreateInProgress, &every_output(), &[]);
        let error = settings(&deploying).unwrap_err().to_string();
        assert!(error.contains("CREATE_IN_PROGRESS"), "{error}");

        let older = stack(StackStatus::CreateComplete, &[("WebhookUrl", "u")], &[]);
        let error = settings(&older).unwrap_err().to_string();
        assert!(error.contains("SyncStateTableName"), "{error}");
        assert!(
            error.contains("deploy this version's template.yaml"),
            "{error}"
        );
    }

    #[test]
    fn the_document_is_toml_the_settings_file_reads_back() {
        let mut settings = BTreeMap::new();
        settings.insert(
            "COSELL_DATAVERSE_URL",
            "https://x/api/data/v9.2/".to_owned(),
        );
        settings.insert("COSELL_HELP_OPTIONS", "{\"a\": \"b\"}".to_owned());
        let text = document("cosell", Some("eu-west-1"), &settings);
        assert!(
            text.starts_with("# Written by `cosell init --stack cosell`"),
            "{text}"
        );
        assert!(text.contains("(eu-west-1)"), "{text}");
        let read: toml::Table = text.parse().unwrap();
        assert_eq!(read["COSELL_HELP_OPTIONS"].as_str(), Some("{\"a\": \"b\"}"));
    }
}
