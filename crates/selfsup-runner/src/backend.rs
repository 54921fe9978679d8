//! The one place where a Burn backend is chosen. Everything below is generic over
//! `B: AutodiffBackend`.

use anyhow::Result;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::AutodiffBackend;

use crate::config::{BackendKind, MethodKind};
use crate::methods::{Simclr, Wcl};
use crate::output::{RunDir, Summary};
use crate::train::{RunInputs, pretrain};

pub fn run_pretrain(inputs: &RunInputs, run_dir: &mut RunDir) -> Result<Summary> {
    match inputs.config.backend {
        BackendKind::Cpu => with_backend::<Autodiff<Flex>>(inputs, run_dir, &Default::default()),
    }
}

fn with_backend<B: AutodiffBackend>(
    inputs: &RunInputs,
    run_dir: &mut RunDir,
    device: &B::Device,
) -> Result<Summary> {
    match inputs.config.method {
        MethodKind::Simclr => pretrain::<B, Simclr<B>>(inputs, run_dir, device),
        MethodKind::Wcl => pretrain::<B, Wcl<B>>(inputs, run_dir, device),
    }
}
