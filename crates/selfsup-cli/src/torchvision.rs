//! torchvision's ResNet parameter names for our backbone's tensors: what `selfsup export`
//! writes and `selfsup import` reads.

/// The torchvision name of one of our backbone tensors (`stem_conv.weight`,
/// `blocks.3.downsample.bn.gamma`, `bottlenecks.15.conv3.weight`, ...), given the blocks per
/// stage; `None` for a tensor torchvision's ResNet has no place for.
pub fn torchvision_name(path: &str, blocks_per_stage: [usize; 4]) -> Option<String> {
    fn batch_norm(field: &str) -> Option<&str> {
        match field {
            "gamma" => Some("weight"),
            "beta" => Some("bias"),
            "running_mean" | "running_var" => Some(field),
            _ => None,
        }
    }
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        ["stem_conv", "weight"] => Some("conv1.weight".into()),
        ["stem_bn", field] => batch_norm(field).map(|f| format!("bn1.{f}")),
        ["blocks" | "bottlenecks", index, rest @ ..] => {
            let mut index: usize = index.parse().ok()?;
            let mut stage = 0;
            while stage < 4 && index >= blocks_per_stage[stage] {
                index -= blocks_per_stage[stage];
                stage += 1;
            }
            if stage == 4 {
                return None;
            }
            let prefix = format!("layer{}.{index}", stage + 1);
            let tail = match rest {
                [conv @ ("conv1" | "conv2" | "conv3"), "weight"] => format!("{conv}.weight"),
                [bn @ ("bn1" | "bn2" | "bn3"), field] => format!("{bn}.{}", batch_norm(field)?),
                ["downsample", "conv", "weight"] => "downsample.0.weight".into(),
                ["downsample", "bn", field] => format!("downsample.1.{}", batch_norm(field)?),
                _ => return None,
            };
            Some(format!("{prefix}.{tail}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_torchvision() {
        let r18 = [2, 2, 2, 2];
        let cases = [
            ("stem_conv.weight", "conv1.weight"),
            ("stem_bn.gamma", "bn1.weight"),
            ("stem_bn.running_var", "bn1.running_var"),
            ("blocks.0.conv1.weight", "layer1.0.conv1.weight"),
            ("blocks.1.bn2.beta", "layer1.1.bn2.bias"),
            (
                "blocks.2.downsample.conv.weight",
                "layer2.0.downsample.0.weight",
            ),
            (
                "blocks.2.downsample.bn.running_mean",
                "layer2.0.downsample.1.running_mean",
            ),
            ("blocks.7.conv2.weight", "layer4.1.conv2.weight"),
        ];
        for (ours, theirs) in cases {
            assert_eq!(
                torchvision_name(ours, r18).as_deref(),
                Some(theirs),
                "{ours}"
            );
        }
        assert_eq!(
            torchvision_name("blocks.3.conv1.weight", [3, 4, 6, 3]).as_deref(),
            Some("layer2.0.conv1.weight")
        );
        assert_eq!(
            torchvision_name("bottlenecks.15.conv3.weight", [3, 4, 6, 3]).as_deref(),
            Some("layer4.2.conv3.weight")
        );
        assert_eq!(
            torchvision_name("bottlenecks.0.bn3.gamma", [3, 4, 6, 3]).as_deref(),
            Some("layer1.0.bn3.weight")
        );
        assert_eq!(torchvision_name("blocks.8.conv1.weight", r18), None);
        assert_eq!(torchvision_name("head.weight", r18), None);
    }
}
