//! Configuration comes from the function's environment, which the template sets. The
//! environment is captured as a map, so a test can hand a handler one of its own.

use std::collections::BTreeMap;

/// A function's environment variables.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

/// A variable the function needs is missing or unreadable: the deployment is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable is not set, or empty.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// The variable is set to something the function cannot use.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

impl Env {
    /// The process's own environment.
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    /// A variable that must be set.
    pub fn require(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    /// A variable, if set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|value| !value.is_empty())
    }

    /// A required variable, parsed.
    pub fn require_parsed<T: std::str::FromStr>(&self, name: &'static str) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.require(name)?.parse().map_err(|e: T::Err| ConfigError::Invalid { name, reason: e.to_string() })
    }

    /// The service name for logs and metrics, as Powertools reads it.
    pub fn service_name(&self) -> &str {
        self.get("POWERTOOLS_SERVICE_NAME").unwrap_or("pizza-shop")
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_value_counts_as_missing() {
        let env: Env = [("TABLE", ""), ("TOPIC", "arn")].into_iter().collect();
        assert!(matches!(env.require("TABLE"), Err(ConfigError::Missing("TABLE"))));
        assert_eq!(env.require("TOPIC").ok(), Some("arn"));
        assert_eq!(env.service_name(), "pizza-shop");
    }
}
