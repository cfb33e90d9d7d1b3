//! Placeholder: being written.

use std::sync::Arc;

use axum::Router;
use serde::{Deserialize, Serialize};

use crate::SimState;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PcConfig {}

pub struct PcState {}

impl PcState {
    pub fn new(_config: PcConfig, _base_url: &str) -> Self {
        Self {}
    }
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
}

/// Starts the webhook delivery worker.
pub fn start_background(_state: &Arc<SimState>) {}
