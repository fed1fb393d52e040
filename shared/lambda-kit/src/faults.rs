//! Fault injection for chaos runs. A function whose environment sets `PIZZA_FAULTS` kills
//! its own process with SIGKILL at the points named there, so a test can prove what a
//! crash at that point leaves behind. Without the variable every point is inert, as on AWS.
//!
//! `PIZZA_FAULTS=before_write=0.05,after_write=0.05,seed=42`: the probability of dying at
//! each point, decided from the seed and the invocation's request id, so a run replays.

use std::io::Write;

use crate::config::{ConfigError, Env};

const VARIABLE: &str = "PIZZA_FAULTS";

/// Where in a batch a crash can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The batch is decoded; the handler has written nothing yet.
    BeforeWrite,
    /// The handler's writes are done; nothing is published yet.
    AfterWrite,
}

impl FaultPoint {
    /// The point's name in the fault configuration.
    pub fn name(self) -> &'static str {
        match self {
            FaultPoint::BeforeWrite => "before_write",
            FaultPoint::AfterWrite => "after_write",
        }
    }
}

/// The crashes configured for this process (none unless configured).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    before_write: f64,
    after_write: f64,
    seed: u64,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// The faults `PIZZA_FAULTS` configures, if any.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let Some(spec) = env.get(VARIABLE) else { return Ok(Self::none()) };
        let invalid = |reason: String| ConfigError::Invalid { name: VARIABLE, reason };
        let mut faults = Self::none();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| invalid(format!("{pair:?} is not key=value")))?;
            let rate = || {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| invalid(format!("{key}={value}: a probability from 0 to 1")))
            };
            match key {
                "before_write" => faults.before_write = rate()?,
                "after_write" => faults.after_write = rate()?,
                "seed" => faults.seed = value.parse().map_err(|_| invalid(format!("seed={value}: a whole number")))?,
                other => return Err(invalid(format!("unknown fault point {other:?}"))),
            }
        }
        Ok(faults)
    }

    /// Whether the invocation `key` dies at `point`: a pure function of the seed, so a run
    /// with the same seed and request ids dies at the same places.
    pub fn hits(&self, point: FaultPoint, key: &str) -> bool {
        let rate = match point {
            FaultPoint::BeforeWrite => self.before_write,
            FaultPoint::AfterWrite => self.after_write,
        };
        if rate <= 0.0 {
            return false;
        }
        let mut hash = self.seed ^ 0xcbf2_9ce4_8422_2325;
        for byte in point.name().bytes().chain([0]).chain(key.bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        (splitmix64(hash) as f64 / u64::MAX as f64) < rate
    }

    /// Dies here if this invocation is chosen to.
    pub fn at(&self, point: FaultPoint, key: &str) {
        if self.hits(point, key) {
            tracing::warn!(fault_point = point.name(), "fault injection: this process is killed here (SIGKILL)");
            let _ = std::io::stdout().flush();
            // SAFETY: kill(2) on our own pid has no memory-safety preconditions; SIGKILL
            // ends the process at once, which is exactly the crash being simulated.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(spec: &str) -> Result<Faults, ConfigError> {
        Faults::from_env(&[(VARIABLE, spec)].into_iter().collect())
    }

    #[test]
    fn without_the_variable_nothing_ever_dies() {
        let none = Faults::from_env(&Env::default()).expect("valid");
        assert!((0..1000).all(|i| !none.hits(FaultPoint::AfterWrite, &i.to_string())));
    }

    #[test]
    fn decisions_follow_the_rate_and_replay_with_the_seed() {
        let half = faults("after_write=0.5,seed=7").expect("valid");
        let hits = (0..2000).filter(|i| half.hits(FaultPoint::AfterWrite, &i.to_string())).count();
        assert!((800..1200).contains(&hits), "{hits} of 2000");
        assert!((0..2000).all(|i| !half.hits(FaultPoint::BeforeWrite, &i.to_string())));
        let again = faults("seed=7,after_write=0.5").expect("valid");
        assert!(
            (0..200).all(|i| half.hits(FaultPoint::AfterWrite, &i.to_string())
                == again.hits(FaultPoint::AfterWrite, &i.to_string()))
        );
        let always = faults("before_write=1").expect("valid");
        assert!(always.hits(FaultPoint::BeforeWrite, "any"));
    }

    #[test]
    fn a_bad_specification_is_a_configuration_error() {
        for bad in ["after_write", "after_write=2", "sideways=0.1", "seed=x"] {
            assert!(faults(bad).is_err(), "{bad}");
        }
    }
}
