//! The images/s figure of a run, without its first steps.

/// Steps excluded from the images/s figure: the first ones pay for allocation and caches.
const THROUGHPUT_WARMUP_STEPS: usize = 3;

/// Source images per second over the timed steps (all but the first few).
#[derive(Default)]
pub(crate) struct Throughput {
    images: usize,
    seconds: f64,
}

impl Throughput {
    pub(crate) fn record(&mut self, step: usize, total_steps: usize, images: usize, seconds: f64) {
        if step > THROUGHPUT_WARMUP_STEPS || total_steps <= THROUGHPUT_WARMUP_STEPS {
            self.images += images;
            self.seconds += seconds;
        }
    }

    pub(crate) fn images_per_sec(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }

    pub(crate) fn describe(&self) -> String {
        if self.images > 0 {
            format!("{:.0} img/s", self.images_per_sec())
        } else {
            "measuring img/s".to_string()
        }
    }
}
