//! What a chaos run does to deliveries and to function processes, every decision drawn
//! from one seeded generator per event source, so that the seed a run prints replays it.

use std::sync::Mutex;
use std::time::Duration;

/// How hard the runner shakes the system. `Chaos::default()` is a calm run.
#[derive(Debug, Clone, Default)]
pub struct Chaos {
    pub seed: u64,
    /// Hand every message to its function twice in its batch, in a random order.
    pub duplicate: bool,
    /// Of the messages a function handled, this share is not deleted but made visible
    /// again: delivered once more, in a later batch, as SQS may.
    pub redeliver: f64,
    /// Hold each batch back a random time up to this long before invoking, so deliveries
    /// overtake one another.
    pub max_delay: Duration,
    /// The probability that a function process kills itself before its batch's first
    /// write, and between its writes and its publish (see `lambda_kit::faults`).
    pub kill_before_write: f64,
    pub kill_after_write: f64,
    /// The probability that the runner kills the function process after it answered and
    /// before the messages are deleted, so the whole batch comes back.
    pub kill_before_delete: f64,
    /// Crash points armed in the *first* process of a function only, by logical id
    /// (`PIZZA_FAULTS` syntax, `after_write=1`): that process dies at the point, and the
    /// retry runs in a clean one. A test proves what one crash there leaves behind.
    pub first_process_faults: std::collections::BTreeMap<String, String>,
}

impl Chaos {
    pub fn is_calm(&self) -> bool {
        !self.duplicate
            && self.redeliver == 0.0
            && self.max_delay.is_zero()
            && self.kill_before_write == 0.0
            && self.kill_after_write == 0.0
            && self.kill_before_delete == 0.0
            && self.first_process_faults.is_empty()
    }

    /// The `PIZZA_FAULTS` of a function's `process_number`-th process (from 0).
    pub fn faults_of(&self, function: &str, process_number: u64, process_seed: u64) -> Option<String> {
        match self.first_process_faults.get(function) {
            Some(faults) if process_number == 0 => Some(faults.clone()),
            _ => self.faults_for(process_seed),
        }
    }

    /// The `PIZZA_FAULTS` a function process gets, seeded per process.
    pub fn faults_for(&self, process_seed: u64) -> Option<String> {
        (self.kill_before_write > 0.0 || self.kill_after_write > 0.0).then(|| {
            format!(
                "before_write={},after_write={},seed={}",
                self.kill_before_write,
                self.kill_after_write,
                self.seed ^ process_seed
            )
        })
    }
}

/// A small seeded generator (splitmix64): reproducible, and good enough to shuffle.
#[derive(Debug)]
pub struct Dice(Mutex<u64>);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(seed))
    }

    pub fn next_u64(&self) -> u64 {
        let mut state = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = *state;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        p > 0.0 && (self.next_u64() as f64 / u64::MAX as f64) < p
    }

    /// A duration from zero up to `max`.
    pub fn up_to(&self, max: Duration) -> Duration {
        if max.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_millis(self.next_u64() % (max.as_millis() as u64 + 1))
        }
    }

    pub fn shuffle<T>(&self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// A seed for one source or process, derived from the run's seed and a name.
pub fn derive_seed(seed: u64, name: &str) -> u64 {
    name.bytes()
        .fold(seed ^ 0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_rolls_the_same_dice() {
        let (a, b) = (Dice::new(42), Dice::new(42));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        let mut items: Vec<u32> = (0..20).collect();
        Dice::new(7).shuffle(&mut items);
        let mut again: Vec<u32> = (0..20).collect();
        Dice::new(7).shuffle(&mut again);
        assert_eq!(items, again);
        assert_ne!(items, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn chances_follow_their_probability() {
        let dice = Dice::new(1);
        let hits = (0..4000).filter(|_| dice.chance(0.25)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert!(!(0..100).any(|_| dice.chance(0.0)));
    }

    #[test]
    fn first_process_faults_arm_only_the_first_process() {
        let chaos = Chaos {
            first_process_faults: [("SauceFunction".to_owned(), "after_write=1".to_owned())].into(),
            ..Chaos::default()
        };
        assert_eq!(chaos.faults_of("SauceFunction", 0, 9).as_deref(), Some("after_write=1"));
        assert_eq!(chaos.faults_of("SauceFunction", 1, 9), None);
        assert_eq!(chaos.faults_of("CheeseFunction", 0, 9), None);
        assert!(!chaos.is_calm());
    }

    #[test]
    fn only_process_kills_become_function_faults() {
        assert_eq!(Chaos::default().faults_for(1), None);
        let chaos = Chaos { seed: 3, kill_after_write: 0.1, ..Chaos::default() };
        assert_eq!(chaos.faults_for(1).as_deref(), Some("before_write=0,after_write=0.1,seed=2"));
    }
}
