/// Rotates a square CHW view by `degrees` about its centre: bilinear
/// sampling, with 0 where the rotated view reaches outside the original (torchvision's
/// `RandomRotation` default fill). Exemplar-CNN's rotation; written here because the `image`
/// crate rotates only by multiples of 90 degrees.
pub fn rotate(view: &mut [f32], side: usize, degrees: f32) {
    let channels = view.len() / (side * side);
    let source = view.to_vec();
    let (sin, cos) = degrees.to_radians().sin_cos();
    let centre = (side as f32 - 1.0) / 2.0;
    let plane = side * side;
    for y in 0..side {
        for x in 0..side {
            // Output pixel (x, y) samples the source at (x, y) turned back about the centre.
            let (dx, dy) = (x as f32 - centre, y as f32 - centre);
            let sx = cos * dx - sin * dy + centre;
            let sy = sin * dx + cos * dy + centre;
            for c in 0..channels {
                view[c * plane + y * side + x] =
                    bilinear(&source[c * plane..(c + 1) * plane], side, sx, sy);
            }
        }
    }
}

/// The plane's value at (x, y), 0 outside it.
fn bilinear(plane: &[f32], side: usize, x: f32, y: f32) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at = |xi: f32, yi: f32| {
        if xi < 0.0 || yi < 0.0 || xi >= side as f32 || yi >= side as f32 {
            0.0
        } else {
            plane[yi as usize * side + xi as usize]
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
    let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(side: usize) -> Vec<f32> {
        (0..side * side).map(|i| i as f32 / 100.0).collect()
    }

    #[test]
    fn zero_degrees_changes_nothing() {
        let mut view = ramp(5);
        rotate(&mut view, 5, 0.0);
        assert_eq!(view, ramp(5));
    }

    #[test]
    fn a_quarter_turn_moves_every_pixel_exactly() {
        let side = 5;
        let original = ramp(side);
        let mut view = original.clone();
        rotate(&mut view, side, 90.0);
        for y in 0..side {
            for x in 0..side {
                // Output (x, y) shows input column side-1-y of row x.
                let want = original[x * side + (side - 1 - y)];
                let got = view[y * side + x];
                assert!((got - want).abs() < 1e-5, "({x}, {y}): {got} vs {want}");
            }
        }
    }

    #[test]
    fn corners_rotated_out_of_the_view_are_filled_with_zero() {
        let side = 8;
        let mut view = vec![1.0; side * side];
        rotate(&mut view, side, 45.0);
        assert_eq!(view[0], 0.0, "the top-left corner comes from outside");
        assert!((view[(side / 2) * side + side / 2] - 1.0).abs() < 1e-6);
    }
}
