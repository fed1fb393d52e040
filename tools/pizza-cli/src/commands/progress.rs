//! The one progress display of the CLI: a bar or a spinner on the terminal, hidden when
//! the output is JSON.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps, labelled `what` ("orders settled").
pub fn bar(len: u64, what: &str, hidden: bool) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if hidden {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {what} {{elapsed}}")) {
        bar.set_style(style);
    }
    bar
}

/// A spinner saying `message`.
pub fn spinner(message: String, hidden: bool) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    if hidden {
        spinner.set_draw_target(ProgressDrawTarget::hidden());
    }
    spinner.set_message(message);
    spinner
}
