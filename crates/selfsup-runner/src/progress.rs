use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The training progress bar on stderr: epoch, step, loss, lr, images/s and ETA. Hidden when
/// stderr is not a terminal (logs then carry one line per epoch instead).
pub fn training_bar(total_steps: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total_steps as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] step {pos}/{len} {msg} | {elapsed_precise} ETA {eta_precise}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}
