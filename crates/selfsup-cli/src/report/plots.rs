//! The PNG pictures of a run: training curves, the confusion matrix as a heat map, and the 2-D
//! map of the test features, drawn with plotters.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor;

const CURVE_COLOR: RGBColor = RGBColor(31, 119, 180);

/// Any plotters error as one line naming the file.
fn drawing_error(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> anyhow::Error + '_ {
    move |e| anyhow!("{}: cannot draw the plot: {e}", path.display())
}

/// One curve of `curves.png`.
pub struct Curve<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub points: &'a [(f64, f64)],
    pub log_y: bool,
}

/// Curves stacked one above the other in one PNG; curves without points are left out.
pub fn curves_png(path: &Path, curves: &[Curve<'_>]) -> Result<()> {
    let fail = drawing_error(path);
    let curves: Vec<&Curve> = curves.iter().filter(|c| !c.points.is_empty()).collect();
    let root =
        BitMapBackend::new(path, (900, 300 * curves.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    for (area, curve) in root
        .split_evenly((curves.len().max(1), 1))
        .iter()
        .zip(&curves)
    {
        draw_curve(area, curve).map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

fn draw_curve(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    curve: &Curve<'_>,
) -> Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>> {
    let log_y = curve.log_y;
    // Log-scaled curves are drawn as log10 values with the labels put back in linear units.
    let shown = move |y: f64| if log_y { y.max(1e-12).log10() } else { y };
    let points = curve.points.iter().map(move |&(x, y)| (x, shown(y)));
    let (x_min, x_max) = bounds(curve.points.iter().map(|p| p.0));
    let (y_min, y_max) = bounds(points.clone().map(|p| p.1));
    let mut chart = ChartBuilder::on(area)
        .caption(curve.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(65)
        .build_cartesian_2d(x_min..x_max, y_min..y_max)?;
    let y_format = move |y: &f64| {
        if log_y {
            format!("{:.0e}", 10f64.powf(*y))
        } else {
            format!("{y:.3}")
        }
    };
    chart
        .configure_mesh()
        .x_desc(curve.x_label)
        .y_label_formatter(&y_format)
        .draw()?;
    chart.draw_series(LineSeries::new(points.clone(), CURVE_COLOR.stroke_width(2)))?;
    if curve.points.len() <= 50 {
        chart.draw_series(points.map(|p| Circle::new(p, 3, CURVE_COLOR.filled())))?;
    }
    Ok(())
}

/// `(min, max)` with a margin, never empty (a single value gets +-1, or +-10% of itself).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !min.is_finite() {
        return (0.0, 1.0);
    }
    let span = max - min;
    let pad = if span > 0.0 {
        span * 0.05
    } else {
        (min.abs() * 0.1).max(1e-3)
    };
    (min - pad, max + pad)
}

/// The confusion matrix as a heat map: rows are true classes, columns predicted ones, each
/// row shaded by its share of the class (so rare classes read the same as common ones), counts
/// written in the cells.
pub fn confusion_png(
    path: &Path,
    confusion: &[Vec<u64>],
    names: &[String],
    title: &str,
) -> Result<()> {
    let fail = drawing_error(path);
    let n = confusion.len();
    let side = (60 * n as u32 + 220).clamp(400, 2000);
    let root = BitMapBackend::new(path, (side, side)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let label = |i: usize| names.get(i).cloned().unwrap_or_else(|| i.to_string());
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(150)
        .build_cartesian_2d(0f64..n as f64, n as f64..0f64)
        .map_err(|e| fail(&e))?;
    // Columns carry the class number only (names would overlap); rows name it.
    let tick = |v: &f64, named: bool| {
        let i = v.floor() as usize;
        if (v - i as f64 - 0.5).abs() < 1e-6 && i < n {
            if named {
                format!("{} ({i})", label(i))
            } else {
                i.to_string()
            }
        } else {
            String::new()
        }
    };
    let column_tick = |v: &f64| tick(v, false);
    let row_tick = |v: &f64| tick(v, true);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(2 * n + 1)
        .y_labels(2 * n + 1)
        .x_label_formatter(&column_tick)
        .y_label_formatter(&row_tick)
        .x_desc("predicted class")
        .y_desc("true class")
        .draw()
        .map_err(|e| fail(&e))?;
    let font_size = if n <= 12 { 14 } else { 9 };
    for (t, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<u64>().max(1) as f64;
        for (p, &count) in row.iter().enumerate() {
            let share = count as f64 / total;
            let shade = |full: u8| (255.0 - share * (255.0 - full as f64)).round() as u8;
            let cell = [(p as f64, t as f64), (p as f64 + 1.0, t as f64 + 1.0)];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    cell,
                    RGBColor(shade(8), shade(48), shade(107)).filled(),
                )))
                .map_err(|e| fail(&e))?;
            if n <= 30 {
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let style =
                    ("sans-serif", font_size)
                        .into_font()
                        .color(&ink)
                        .pos(text_anchor::Pos::new(
                            text_anchor::HPos::Center,
                            text_anchor::VPos::Center,
                        ));
                chart
                    .draw_series(std::iter::once(Text::new(
                        count.to_string(),
                        (p as f64 + 0.5, t as f64 + 0.5),
                        style,
                    )))
                    .map_err(|e| fail(&e))?;
            }
        }
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

/// A scatter plot of 2-D points coloured by class, with a legend.
pub fn embedding_png(
    path: &Path,
    points: &[[f32; 2]],
    labels: &[u32],
    names: &[String],
    title: &str,
) -> Result<()> {
    let fail = drawing_error(path);
    let root = BitMapBackend::new(path, (1000, 850)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (x_min, x_max) = bounds(points.iter().map(|p| p[0] as f64));
    let (y_min, y_max) = bounds(points.iter().map(|p| p[1] as f64));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .build_cartesian_2d(x_min..x_max, y_min..y_max)
        .map_err(|e| fail(&e))?;
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    for class in 0..classes {
        let color = Palette99::pick(class).to_rgba();
        let members = points
            .iter()
            .zip(labels)
            .filter(|&(_, &l)| l as usize == class)
            .map(|(p, _)| Circle::new((p[0] as f64, p[1] as f64), 2, color.filled()));
        let name = names
            .get(class)
            .cloned()
            .unwrap_or_else(|| class.to_string());
        chart
            .draw_series(members)
            .map_err(|e| fail(&e))?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 5, y), 4, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(path: &Path) -> (u32, u32) {
        image::image_dimensions(path).unwrap()
    }

    #[test]
    fn every_plot_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let curve = dir.path().join("curves.png");
        let loss = [(1.0, 5.0), (2.0, 4.0), (3.0, 3.5)];
        let lr = [(1.0, 0.1), (2.0, 0.05), (3.0, 0.0)];
        curves_png(
            &curve,
            &[
                Curve {
                    title: "loss",
                    x_label: "step",
                    points: &loss,
                    log_y: false,
                },
                Curve {
                    title: "lr",
                    x_label: "step",
                    points: &lr,
                    log_y: true,
                },
                Curve {
                    title: "kNN",
                    x_label: "epoch",
                    points: &[],
                    log_y: false,
                },
            ],
        )
        .unwrap();
        assert_eq!(png_size(&curve), (900, 600), "the empty curve is left out");

        let confusion = dir.path().join("confusion.png");
        let names: Vec<String> = ["cat", "dog", "bird"].map(String::from).to_vec();
        confusion_png(
            &confusion,
            &[vec![5, 1, 0], vec![2, 3, 0], vec![0, 0, 0]],
            &names,
            "test",
        )
        .unwrap();
        assert!(png_size(&confusion).0 >= 400);

        let embedding = dir.path().join("embedding.png");
        embedding_png(
            &embedding,
            &[[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]],
            &[0, 1, 2],
            &names,
            "t-SNE",
        )
        .unwrap();
        assert_eq!(png_size(&embedding), (1000, 850));
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("curves.png");
        let error = curves_png(
            &path,
            &[Curve {
                title: "loss",
                x_label: "step",
                points: &[(0.0, 1.0)],
                log_y: false,
            }],
        )
        .unwrap_err();
        assert!(error.to_string().contains("curves.png"), "{error}");
    }
}
