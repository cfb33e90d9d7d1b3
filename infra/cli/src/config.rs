//! Where a command's `COSELL_*` settings come from: the environment, then a TOML file
//! (`--config FILE`, or `COSELL_CONFIG`) whose keys are the same names:
//!
//! ```toml
//! COSELL_DATAVERSE_URL = "https://contoso.api.crm.dynamics.com/api/data/v9.2/"
//! COSELL_PARTNER_CENTER_TENANT = "contoso.onmicrosoft.com"
//! COSELL_CREDENTIALS_FILE = "credentials.json"
//! COSELL_SHOW_CHECKMARK = false
//! ```
//!
//! One table is not a setting: `[mapping]`, the mapping document (`cosell_mapping::custom`),
//! handed on as JSON in `COSELL_MAPPING`.
//!
//! The environment wins over the file. This module only finds values: [`Config::lookup`] feeds
//! the crates' own `from_lookup`s, so every setting is parsed (and its error worded) in one place.
//! A file key that is not a `COSELL_*` name is refused, so a typo does not pass silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The settings this CLI adds to those of the functions.
pub mod keys {
    /// How often `serve` polls the Dataverse change feed (`60`, `1.5`, `500ms`, `2m`).
    pub const POLL_INTERVAL: &str = "COSELL_POLL_INTERVAL";
    /// How often `serve` redoes due retry items (Lambda's schedule: every minute).
    pub const RETRY_INTERVAL: &str = "COSELL_RETRY_INTERVAL";
    /// How often `serve` sweeps referrals changed since the watermark (Lambda's: 15 minutes).
    pub const RECONCILE_INTERVAL: &str = "COSELL_RECONCILE_INTERVAL";
    /// `serve`: how long a scheduled run's lease outlives a process that died holding it
    /// (default 300 s, the functions' timeout); a retry run takes no new item after 60 % of it.
    pub const RUN_LEASE: &str = "COSELL_RUN_LEASE";
    /// `serve`: how long one record's lease outlives a process that died syncing it (default 60 s).
    pub const RECORD_LEASE: &str = "COSELL_RECORD_LEASE";
    /// `serve`: one request to Partner Center or Dataverse, connect to last byte (default 30 s).
    pub const HTTP_TIMEOUT: &str = "COSELL_HTTP_TIMEOUT";
    /// The URL Partner Center should call: `check` compares the registration with it, and
    /// `webhooks register` uses it when no URL is given.
    pub const WEBHOOK_URL: &str = "COSELL_WEBHOOK_URL";
    /// The URL Dataverse's webhook should call (the template's `DataverseWebhookUrl` output):
    /// `setup` registers the service endpoint there.
    pub const DATAVERSE_WEBHOOK_URL: &str = "COSELL_DATAVERSE_WEBHOOK_URL";
    pub const TABLE: &str = "COSELL_TABLE";
    pub const SQLITE_PATH: &str = "COSELL_SQLITE_PATH";

    /// The names only the CLI reads, beside `cosell_runtime::names`' (which has the store's).
    pub const ALL: &[&str] = &[
        POLL_INTERVAL,
        RETRY_INTERVAL,
        RECONCILE_INTERVAL,
        RUN_LEASE,
        RECORD_LEASE,
        HTTP_TIMEOUT,
        WEBHOOK_URL,
        DATAVERSE_WEBHOOK_URL,
    ];
}

/// The table of `cosell.toml` holding the mapping document (`cosell_mapping::custom`).
pub const MAPPING_TABLE: &str = "mapping";

/// The SQLite file `serve` (and the other commands, so they see the same state) use when
/// neither `COSELL_TABLE` nor `COSELL_SQLITE_PATH` is set.
pub const DEFAULT_SQLITE_PATH: &str = "cosell.db";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("there is no settings file {path} (named by --config or COSELL_CONFIG)")]
    NotFound { path: PathBuf },
    #[error("reading the settings file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the settings file {path} is not TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the settings file {path}: {key} {problem}")]
    Key {
        path: PathBuf,
        key: String,
        problem: &'static str,
    },
    #[error("{name} must be a duration such as 60, 1.5, 500ms or 2m, got '{value}'")]
    Duration { name: &'static str, value: String },
    /// A `COSELL_*` name nothing reads: a typo, said with the name meant.
    #[error(transparent)]
    Unknown(#[from] cosell_runtime::names::Unknown),
    #[error(transparent)]
    Settings(#[from] cosell_runtime::SettingsError),
    /// A mapping entry that cannot be used, at its line in the settings file.
    #[error("{path} line {line}: {error}")]
    AtLine {
        path: PathBuf,
        line: usize,
        error: cosell_runtime::SettingsError,
    },
}

/// One source of values.
#[derive(Debug, Clone)]
enum Layer {
    Environment,
    Values(BTreeMap<String, String>),
}

/// Settings sources, highest priority first. A blank value counts as unset, as in the crates'
/// own readers.
#[derive(Debug, Clone)]
pub struct Config {
    layers: Vec<Layer>,
    /// The settings file and its text, to say where in it a mapping entry is.
    file: Option<(PathBuf, String)>,
}

impl Config {
    /// The environment, then `file` if given. A `COSELL_*` name in either that nothing reads is
    /// refused, with the name it was probably meant to be.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let environment: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        let names = environment.iter().map(String::as_str);
        cosell_runtime::names::check("the environment", names, keys::ALL)?;
        let mut config = Self {
            layers: vec![Layer::Environment],
            file: None,
        };
        if let Some(path) = file {
            let text = read_file(path)?;
            let values = parse_file(path, &text)?;
            let source = path.display().to_string();
            cosell_runtime::names::check(&source, values.keys().map(String::as_str), keys::ALL)?;
            config.layers.push(Layer::Values(values));
            config.file = Some((path.to_owned(), text));
        }
        Ok(config)
    }

    /// Only `values`, nothing from the environment (the sandbox must never reach real services
    /// because of a variable left in the shell).
    pub fn only(values: BTreeMap<String, String>) -> Self {
        Self {
            layers: vec![Layer::Values(values)],
            file: None,
        }
    }

    /// The value of `name`, from the first source that has a non-blank one.
    pub fn get(&self, name: &str) -> Option<String> {
        self.layers.iter().find_map(|layer| {
            let value = match layer {
                Layer::Environment => std::env::var(name).ok(),
                Layer::Values(values) => values.get(name).cloned(),
            };
            value.filter(|v| !v.trim().is_empty())
        })
    }

    /// The closure every `from_lookup` takes.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| self.get(name)
    }

    /// Adds `COSELL_SQLITE_PATH = cosell.db` at the lowest priority when no store is configured.
    pub fn with_default_store(mut self) -> Self {
        if self.get(keys::TABLE).is_none() && self.get(keys::SQLITE_PATH).is_none() {
            self.layers.push(Layer::Values(BTreeMap::from([(
                keys::SQLITE_PATH.to_owned(),
                DEFAULT_SQLITE_PATH.to_owned(),
            )])));
        }
        self
    }

    /// A duration setting, or `default` when unset.
    pub fn duration(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => parse_duration(&value).ok_or(ConfigError::Duration { name, value }),
        }
    }

    /// The settings every process reads ([`cosell_runtime::Settings`]). A mapping entry that
    /// cannot be used is named at its line in the settings file, when it came from there.
    pub fn runtime(&self) -> Result<cosell_runtime::Settings, ConfigError> {
        cosell_runtime::Settings::from_lookup(self.lookup()).map_err(|e| self.at_line(e))
    }

    /// The CRM settings alone (the commands that need no services), errors placed as
    /// [`Config::runtime`]'s are.
    pub fn crm(&self) -> Result<cosell_mapping::CrmConfig, ConfigError> {
        let crm = cosell_mapping::CrmConfig::from_lookup(self.lookup());
        crm.map_err(|e| self.at_line(cosell_runtime::SettingsError::Crm(e)))
    }

    /// `error` at its line in the settings file, when it names a mapping entry that came from
    /// the file's `[mapping]` (and not from a `COSELL_MAPPING` in the environment).
    fn at_line(&self, error: cosell_runtime::SettingsError) -> ConfigError {
        use cosell_mapping::ConfigError::Mapping;
        use cosell_runtime::SettingsError::Crm;
        let from_file = std::env::var_os(cosell_mapping::config::keys::MAPPING).is_none();
        let at = match (&error, &self.file) {
            (Crm(Mapping { key, .. }), Some((path, text))) if from_file => {
                line_of(text, key).map(|line| (path.clone(), line))
            }
            _ => None,
        };
        match at {
            Some((path, line)) => ConfigError::AtLine { path, line, error },
            None => error.into(),
        }
    }
}

/// The line (from 1) of the entry at `key` (`mapping.fields[2].column`) in a TOML document, or
/// of the deepest part of it there (the table an entry is missing from).
fn line_of(text: &str, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let document = DeTable::parse(text).ok()?;
    let mut table = Some(document.get_ref());
    let mut at: Option<&toml::Spanned<DeValue>> = None;
    'path: for segment in key.split('.') {
        let mut parts = segment.split('[');
        let name = parts.next().unwrap_or_default();
        let entry = table.and_then(|t| t.iter().find(|(k, _)| k.get_ref() == name));
        let Some((_, mut value)) = entry else { break };
        for index in parts {
            let index: usize = index.trim_end_matches(']').parse().ok()?;
            match value.get_ref() {
                DeValue::Array(items) if index < items.len() => value = &items[index],
                _ => {
                    at = Some(value);
                    break 'path;
                }
            }
        }
        at = Some(value);
        table = match value.get_ref() {
            DeValue::Table(inner) => Some(inner),
            _ => None,
        };
    }
    let start = at?.span().start;
    Some(text[..start].matches('\n').count() + 1)
}

/// The settings file's text.
fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ConfigError::NotFound {
            path: path.to_owned(),
        },
        _ => ConfigError::Read {
            path: path.to_owned(),
            source,
        },
    })
}

/// Reads a flat TOML table of `COSELL_*` keys; strings, numbers and booleans are taken as their
/// text, so `COSELL_SHOW_CHECKMARK = false` and `= "false"` mean the same.
fn parse_file(path: &Path, text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })?;
    let key_error = |key: &str, problem| ConfigError::Key {
        path: path.to_owned(),
        key: key.to_owned(),
        problem,
    };
    let mut values = BTreeMap::new();
    for (key, value) in table {
        if key == MAPPING_TABLE {
            // The mapping document: handed on as JSON, read (and refused whole, by key) where
            // every other setting is, in `CrmConfig::from_lookup`.
            let json = serde_json::to_string(&value).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            values.insert(cosell_mapping::config::keys::MAPPING.to_owned(), json);
            continue;
        }
        if !key.starts_with("COSELL_") {
            return Err(key_error(&key, "is not a COSELL_* setting"));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => return Err(key_error(&key, "must be a string, number or boolean")),
        };
        values.insert(key, text);
    }
    Ok(values)
}

/// `60` and `1.5` are seconds; `500ms`, `30s`, `2m` say their unit.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value > 0.0).then(|| Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn file_values_are_text_and_foreign_keys_are_refused() {
        let path = Path::new("cosell.toml");
        let parsed = parse_file(
            path,
            "COSELL_DATAVERSE_URL = \"https://x/api/data/v9.2/\"\nCOSELL_SHOW_CHECKMARK = false\nCOSELL_POLL_INTERVAL = 5\n",
        )
        .unwrap();
        assert_eq!(parsed["COSELL_SHOW_CHECKMARK"], "false");
        assert_eq!(parsed["COSELL_POLL_INTERVAL"], "5");
        let error = parse_file(path, "COSEL_TABLE = \"t\"").unwrap_err();
        assert!(error.to_string().contains("COSEL_TABLE"), "{error}");
        let error = parse_file(path, "COSELL_TABLE = [1]").unwrap_err();
        assert!(error.to_string().contains("COSELL_TABLE"), "{error}");
        assert!(matches!(
            parse_file(path, "not toml ="),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn the_mapping_table_becomes_the_json_every_function_reads() {
        let path = Path::new("cosell.toml");
        let text = "[mapping]\nversion = 2\nleads = false\n[mapping.defaults.opportunity]\nnew_region = { option = 100000001 }\n";
        let parsed = parse_file(path, text).unwrap();
        let mapping = cosell_mapping::custom::Mapping::parse(&parsed["COSELL_MAPPING"]).unwrap();
        assert_eq!(mapping.version, 2);
        assert!(!mapping.leads);
        assert_eq!(mapping.defaults.opportunity.len(), 1);
    }

    #[test]
    fn earlier_layers_win_and_blank_is_unset() {
        let config = Config {
            layers: vec![
                Layer::Values(values(&[("COSELL_A", "first"), ("COSELL_B", "  ")])),
                Layer::Values(values(&[("COSELL_A", "second"), ("COSELL_B", "fallback")])),
            ],
            file: None,
        };
        assert_eq!(config.get("COSELL_A").as_deref(), Some("first"));
        assert_eq!(config.get("COSELL_B").as_deref(), Some("fallback"));
        assert_eq!(config.get("COSELL_C"), None);
    }

    #[test]
    fn the_default_store_applies_only_when_none_is_configured() {
        let none = Config::only(BTreeMap::new()).with_default_store();
        assert_eq!(
            none.get(keys::SQLITE_PATH).as_deref(),
            Some(DEFAULT_SQLITE_PATH)
        );
        let table = Config::only(values(&[(keys::TABLE, "cosell")])).with_default_store();
        assert_eq!(table.get(keys::SQLITE_PATH), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        for bad in ["", "0", "-1", "soon", "1h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let config = Config::only(values(&[(keys::POLL_INTERVAL, "often")]));
        let error = config
            .duration(keys::POLL_INTERVAL, Duration::from_secs(60))
            .unwrap_err();
        assert!(error.to_string().contains(keys::POLL_INTERVAL), "{error}");
    }

    #[test]
    fn a_misspelt_key_in_the_file_is_refused_with_the_one_meant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cosell.toml");
        std::fs::write(
            &path,
            "COSELL_DATAVERSE_ULR = \"https://x/api/data/v9.2/\"\n",
        )
        .unwrap();
        let error = Config::load(Some(&path)).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("COSELL_DATAVERSE_ULR (did you mean COSELL_DATAVERSE_URL?)"),
            "{text}"
        );
        assert!(text.starts_with(&path.display().to_string()), "{text}");
    }

    #[test]
    fn a_missing_file_is_said_once_with_where_it_was_named() {
        let error = Config::load(Some(Path::new("/nonexistent/cosell.toml"))).unwrap_err();
        let text = format!("{:#}", anyhow::Error::from(error));
        assert_eq!(
            text,
            "there is no settings file /nonexistent/cosell.toml (named by --config or COSELL_CONFIG)"
        );
    }

    #[test]
    fn a_mapping_entry_that_cannot_be_used_is_named_at_its_line() {
        let text = "COSELL_DATAVERSE_URL = \"https://x.api.crm.dynamics.com/api/data/v9.2/\"\n\
                    COSELL_PARTNER_CENTER_TENANT = \"t\"\n\
                    COSELL_CREDENTIALS_FILE = \"c.json\"\n\
                    COSELL_SQLITE_PATH = \"s.db\"\n\
                    [mapping]\n\
                    version = 2\n\
                    [[mapping.fields]]\n\
                    referral = \"customerProfile.name\"\n\
                    [[mapping.fields]]\n\
                    referral = \"details.dealValue\"\n\
                    column = \"Not A Column\"\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cosell.toml");
        std::fs::write(&path, text).unwrap();
        let config = Config {
            layers: vec![Layer::Values(parse_file(&path, text).unwrap())],
            file: Some((path.clone(), text.to_owned())),
        };
        let error = config.runtime().unwrap_err();
        let ConfigError::AtLine { line, error, .. } = &error else {
            panic!("{error:?}");
        };
        let said = error.to_string();
        assert!(said.starts_with("mapping.fields["), "{said}");
        // The entry the error names, in the file: the first field's table or the second's column.
        assert!((7..=11).contains(line), "line {line}: {said}");
        assert_eq!(line_of(text, "mapping.fields[1].column"), Some(11));
        assert_eq!(line_of(text, "mapping.version"), Some(6));
        assert_eq!(line_of(text, "nothing.at.all"), None);
    }

    #[test]
    fn every_cosell_name_in_the_repository_is_one_the_checks_know() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if path.is_dir() {
                    if !name.starts_with('.') && name != "target" {
                        stack.push(path);
                    }
                    continue;
                }
                let read = ["rs", "yaml", "sh", "toml", "md"]
                    .iter()
                    .any(|ext| name.ends_with(&format!(".{ext}")));
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                if !read {
                    continue;
                }
                for (at, _) in text.match_indices("COSELL_") {
                    let word: String = text[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    // Prefixes in prose (`COSELL_RETRY_*`) and tests' made-up names are not names.
                    if !word.ends_with('_') && word.len() > "COSELL_X".len() {
                        seen.insert(word);
                    }
                }
            }
        }
        // The typos the tests make on purpose.
        for misspelt in [
            "COSELL_DATAVERSE_ULR",
            "COSELL_TABEL",
            "COSELL_WHATEVER_ELSE",
        ] {
            seen.remove(misspelt);
        }
        assert!(seen.len() > 60, "{seen:?}");
        let unknown = cosell_runtime::names::check(
            "the repository",
            seen.iter().map(String::as_str),
            keys::ALL,
        );
        assert_eq!(unknown, Ok(()));
    }
}
