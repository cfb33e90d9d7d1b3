//! What every command is given: the output format and where its settings come from.

use std::future::Future;
use std::path::PathBuf;

use crate::config::{Config, ConfigError};
use crate::output::Format;

pub struct Context {
    pub format: Format,
    /// `--config FILE` (or `COSELL_CONFIG`).
    pub config_file: Option<PathBuf>,
}

impl Context {
    /// The environment over the settings file.
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::load(self.config_file.as_deref())
    }

    /// Runs an async command to completion on a fresh runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("the tokio runtime starts")
            .block_on(future)
    }
}
