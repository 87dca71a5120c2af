//! Drawing [`Curves`] with plotters: one chart per panel side by side,
//! each line with its points marked and named in a legend, rendered to SVG
//! text or to PNG bytes in memory (so the file is written atomically).

use super::curves::{Curves, Panel};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;

/// The picture's size in pixels.
const SIZE: (u32, u32) = (1100, 450);

/// The font every label is drawn with: DejaVu Sans cut to Latin-1 and a few
/// signs (assets/fonts/LICENSE), so that PNGs need no system fonts.
const FONT: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans-subset.ttf");

const COLORS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];

fn register_font() -> Result<(), String> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| "the bundled font".to_string())
}

/// The curves as an SVG document.
pub fn svg(c: &Curves) -> Result<Vec<u8>, String> {
    register_font()?;
    let mut text = String::new();
    draw(SVGBackend::with_string(&mut text, SIZE).into_drawing_area(), c)?;
    Ok(text.into_bytes())
}

/// The curves as a PNG file's bytes.
pub fn png(c: &Curves) -> Result<Vec<u8>, String> {
    register_font()?;
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area(), c)?;
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, c: &Curves) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    // Every range first: one that cannot be drawn is an error before any drawing.
    let ranges = c.panels.iter().map(ranges).collect::<Result<Vec<_>, String>>()?;
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(&c.title, ("sans-serif", 20)).map_err(e)?;
    let areas = root.split_evenly((1, c.panels.len()));
    for ((area, panel), r) in areas.iter().zip(&c.panels).zip(ranges) {
        chart(area, panel, r).map_err(e)?;
    }
    root.present().map_err(e)
}

/// A panel's axes: epochs across, values up.
struct Axes {
    xs: Range<f64>,
    ys: Range<f64>,
}

/// The axes of panel `p`, or why its values cannot be drawn.
fn ranges(p: &Panel) -> Result<Axes, String> {
    let all = || p.series.iter().flat_map(|s| s.points.iter());
    let ys = padded(all().map(|q| q.1), 0.05).ok_or_else(|| {
        let (lo, hi) = bounds(all().map(|q| q.1));
        format!("the {} values run from {lo:e} to {hi:e}, too far apart for one axis", p.name)
    })?;
    let xs = padded(all().map(|q| q.0), 0.0).ok_or("the epochs are out of range")?;
    Ok(Axes { xs, ys })
}

/// One panel: its lines over the epochs, with a legend.
fn chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    axes: Axes,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let Axes { xs, ys } = axes;
    let (xs_start, xs_end) = (xs.start, xs.end);
    let mut chart =
        ChartBuilder::on(area).margin(15).x_label_area_size(40).y_label_area_size(60).build_cartesian_2d(xs, ys)?;
    // Whole epochs on the x axis, at most about ten of them labelled.
    let epochs = (xs_end - xs_start).round() as usize + 1;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(p.name.as_str())
        .x_labels(epochs.min(10))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .max_light_lines(0)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (s, &color) in p.series.iter().zip(COLORS.iter().cycle()) {
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(s.points.iter().map(|&q| Circle::new(q, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        // Where the lines usually are not: losses fall, scores rise.
        .position(if p.name == "loss" { SeriesLabelPosition::UpperRight } else { SeriesLabelPosition::LowerRight })
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// The least and greatest of `v` (+∞ and -∞ when it is empty).
fn bounds(v: impl Iterator<Item = f64>) -> (f64, f64) {
    v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
}

/// The range of the finite values `v` widened by `margin` of its span on
/// each side (when every value is the same, by 0.5 or a thousandth of the
/// value, whichever is more); 0..1 when there are none. `None` when the
/// widened range's width is not a finite float (values near ±1.8e308),
/// which the plotting crate cannot map onto pixels. The span is taken in
/// halves, so that no step overflows.
fn padded(v: impl Iterator<Item = f64>, margin: f64) -> Option<Range<f64>> {
    let (lo, hi) = bounds(v);
    if lo > hi {
        return Some(0.0..1.0);
    }
    let half = hi / 2.0 - lo / 2.0;
    let size = lo.abs().max(hi.abs());
    let pad = if half <= f64::EPSILON * size.max(1.0) { (size * 1e-3).max(0.5) } else { 2.0 * margin * half };
    let r = lo - pad..hi + pad;
    (r.end - r.start).is_finite().then_some(r)
}

#[cfg(test)]
mod tests {
    use super::padded;

    #[test]
    fn ranges_are_padded_and_never_overflow() {
        assert_eq!(padded([1.0, 3.0].into_iter(), 0.05), Some(0.9..3.1));
        assert_eq!(padded([2.0].into_iter(), 0.05), Some(1.5..2.5));
        assert_eq!(padded(std::iter::empty(), 0.05), Some(0.0..1.0));
        // One value near the top of the floats: a thousandth either side.
        let r = padded([1e300].into_iter(), 0.05).unwrap();
        assert!(r.start < 1e300 && r.end > 1e300 && (r.end - r.start).is_finite(), "{r:?}");
        assert_eq!(padded([-9e307, 9e307].into_iter(), 0.05), None);
        assert_eq!(padded([f64::MAX, f64::MAX].into_iter(), 0.05), None);
        assert!(padded([-4e307, 4e307].into_iter(), 0.05).is_some());
    }
}
