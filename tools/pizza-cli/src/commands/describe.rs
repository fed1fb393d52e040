//! `pizza describe`: what the stack is made of.

use local_runner::Manifest;
use serde::Serialize;

use super::Report;

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Description(pub Manifest);

impl std::fmt::Display for Description {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::discover::summary(&self.0).trim_end())
    }
}

impl Report for Description {}
