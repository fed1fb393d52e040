//! Waiting for a system to settle: one loop for the CLI, the system tests and the
//! benchmarks, which all poll the stack until what they wait for holds or their patience
//! runs out.

use std::time::{Duration, Instant};

/// Calls `check` every `every` until it yields a value or `patience` has run out; the
/// value, or `None` if it never came. `check` runs at least once.
pub async fn poll_until<T>(
    patience: Duration,
    every: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() + every > deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// Calls `read` every `every` until what it reads has not changed for `quiet` (or
/// `patience` ran out), and returns the last reading.
pub async fn until_still<T: PartialEq, E>(
    patience: Duration,
    quiet: Duration,
    every: Duration,
    mut read: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + patience;
    let mut last = read().await?;
    let mut still_since = Instant::now();
    while Instant::now() < deadline && still_since.elapsed() < quiet {
        tokio::time::sleep(every).await;
        let now = read().await?;
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn polling_stops_at_the_first_value_or_when_patience_runs_out() {
        let mut calls = 0;
        let found = poll_until(Duration::from_secs(5), Duration::from_millis(1), async || {
            calls += 1;
            (calls == 3).then_some(calls)
        })
        .await;
        assert_eq!(found, Some(3));
        let never: Option<()> = poll_until(Duration::from_millis(20), Duration::from_millis(5), async || None).await;
        assert_eq!(never, None);
    }

    #[tokio::test]
    async fn a_reading_that_stops_changing_is_returned_once_it_has_been_still() {
        let mut readings = [1, 2, 2, 2, 2, 2, 2, 2].into_iter();
        let last: Result<i32, ()> =
            until_still(Duration::from_secs(5), Duration::from_millis(5), Duration::from_millis(2), async || {
                Ok(readings.next().unwrap_or(2))
            })
            .await;
        assert_eq!(last, Ok(2));
    }
}
