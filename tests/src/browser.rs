//! A real headless browser for the tests: Debian's Chromium, run once per look. It loads
//! a page, lets its scripts run for a while of the page's own (virtual) time, and gives
//! back what a person would see: the DOM as rendered, or a screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Chromium's virtual time per look: enough for the page's first refresh and its fetches.
const VIRTUAL_TIME_MS: u32 = 5_000;

/// The browser: `CHROMIUM` if set, else Debian's `/usr/bin/chromium` (`make test` installs
/// it where missing).
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(path.exists(), "no Chromium at {} (run `make test`, which installs it)", path.display());
    path
}

fn headless(profile: &Path) -> Command {
    let mut command = Command::new(chromium());
    // As root, without a GPU, and without the background traffic a closed network refuses.
    command
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={VIRTUAL_TIME_MS}"));
    command
}

fn profile() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pizza-chromium-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// The page at `url` as the browser renders it, after its scripts ran.
pub fn rendered_dom(url: &str) -> String {
    let profile = profile();
    let output = headless(&profile).arg("--dump-dom").arg(url).output().expect("Chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(output.status.success(), "Chromium failed on {url}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A screenshot of the page at `url`, `width`×`height`, written to `path`.
pub fn screenshot(url: &str, path: &Path, (width, height): (u32, u32)) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    }
    let profile = profile();
    let output = headless(&profile)
        .arg(format!("--screenshot={}", path.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg("--hide-scrollbars")
        .arg(url)
        .output()
        .expect("Chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(output.status.success(), "Chromium failed on {url}: {}", String::from_utf8_lossy(&output.stderr));
    assert!(path.exists(), "Chromium wrote no screenshot to {}", path.display());
}
