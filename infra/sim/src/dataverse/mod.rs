//! Placeholder: being written.

use std::sync::Arc;

use axum::Router;
use serde::{Deserialize, Serialize};

use crate::SimState;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DvConfig {}

pub struct DvState {}

impl DvState {
    pub fn new(_config: DvConfig, _base_url: &str) -> Self {
        Self {}
    }
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
}
