use burn::lr_scheduler::LrScheduler;
use burn::lr_scheduler::cosine::{CosineAnnealingLrScheduler, CosineAnnealingLrSchedulerConfig};
use burn::lr_scheduler::linear::{LinearLrScheduler, LinearLrSchedulerConfig};
use burn::optim::LearningRate;

/// Linear warm-up to the peak, then either cosine decay to 0 ([`LrSchedule::warmup_cosine`]) or
/// the peak times `gamma` after each milestone ([`LrSchedule::warmup_multistep`]), built from
/// Burn's linear and cosine schedulers. Burn's schedulers reject learning rates above 1
/// (large-batch SimCLR/WCL use more), and its composed scheduler runs its parts in parallel
/// rather than one after the other, so they schedule a factor in (0, 1] that multiplies the peak
/// rate, and this type sequences them.
#[derive(Clone)]
pub struct LrSchedule {
    peak: LearningRate,
    warmup_steps: usize,
    step: usize,
    warmup: Option<LinearLrScheduler>,
    cosine: CosineAnnealingLrScheduler,
    /// Steps after which the rate is multiplied by `gamma` (a step schedule instead of cosine).
    milestones: Option<(Vec<usize>, f64)>,
}

impl LrSchedule {
    /// `warmup_steps` of linear warm-up, then cosine from the peak to 0 at `total_steps`.
    pub fn warmup_cosine(peak: LearningRate, warmup_steps: usize, total_steps: usize) -> Self {
        let warmup = (warmup_steps > 0).then(|| {
            // Steps 1..=w give factors 1/w, 2/w, ..., 1.
            LinearLrSchedulerConfig::new(1.0 / warmup_steps as f64, 1.0, (warmup_steps - 1).max(1))
                .init()
                .expect("factors lie in (0, 1]")
        });
        let cosine = CosineAnnealingLrSchedulerConfig::new(
            1.0,
            total_steps.saturating_sub(warmup_steps).max(1),
        )
        .init()
        .expect("factor 1 and at least one step");
        Self {
            peak,
            warmup_steps,
            step: 0,
            warmup,
            cosine,
            milestones: None,
        }
    }

    /// Warm-up, then the peak times `gamma^k` after the k-th milestone (given as fractions of
    /// `total_steps`): MoCo v1's and lemniscate's schedule (x0.1 at epochs 120 and 160 of 200).
    /// Burn's step scheduler has one fixed period, not milestones.
    pub fn warmup_multistep(
        peak: LearningRate,
        warmup_steps: usize,
        total_steps: usize,
        milestones: &[f64],
        gamma: f64,
    ) -> Self {
        let mut schedule = Self::warmup_cosine(peak, warmup_steps, total_steps);
        let steps = milestones
            .iter()
            .map(|f| (f * total_steps as f64).round() as usize)
            .collect();
        schedule.milestones = Some((steps, gamma));
        schedule
    }

    /// The learning rate of the next optimiser step.
    pub fn next_lr(&mut self) -> LearningRate {
        self.step += 1;
        let factor = match (&mut self.warmup, &self.milestones) {
            (Some(warmup), _) if self.step <= self.warmup_steps => warmup.step(),
            (_, Some((milestones, gamma))) => {
                let passed = milestones.iter().filter(|&&m| self.step > m).count();
                gamma.powi(passed as i32)
            }
            _ => self.cosine.step(),
        };
        self.peak * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_decays_by_cosine() {
        let mut s = LrSchedule::warmup_cosine(2.0, 4, 14);
        let lrs: Vec<f64> = (0..14).map(|_| s.next_lr()).collect();
        for (i, want) in [0.5, 1.0, 1.5, 2.0].iter().enumerate() {
            assert!((lrs[i] - want).abs() < 1e-12, "{lrs:?}");
        }
        // Cosine over 10 steps starting at the peak.
        for k in 0..10 {
            let want = 2.0 * 0.5 * (1.0 + (std::f64::consts::PI * k as f64 / 10.0).cos());
            assert!((lrs[4 + k] - want).abs() < 1e-12, "step {k}: {lrs:?}");
        }
    }

    #[test]
    fn multistep_divides_by_ten_after_each_milestone() {
        let mut s = LrSchedule::warmup_multistep(0.03, 2, 10, &[0.6, 0.8], 0.1);
        let lrs: Vec<f64> = (0..10).map(|_| s.next_lr()).collect();
        let want = [
            0.015, 0.03, 0.03, 0.03, 0.03, 0.03, 0.003, 0.003, 0.0003, 0.0003,
        ];
        for (got, want) in lrs.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{lrs:?}");
        }
    }

    #[test]
    fn no_warmup_starts_at_peak() {
        let mut s = LrSchedule::warmup_cosine(0.3, 0, 5);
        assert!((s.next_lr() - 0.3).abs() < 1e-12);
        let mut one = LrSchedule::warmup_cosine(0.3, 1, 5);
        assert!((one.next_lr() - 0.3).abs() < 1e-12);
    }
}
