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
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(&c.title, ("sans-serif", 20)).map_err(e)?;
    let areas = root.split_evenly((1, c.panels.len()));
    for (area, panel) in areas.iter().zip(&c.panels) {
        chart(area, panel).map_err(e)?;
    }
    root.present().map_err(e)
}

/// One panel: its lines over the epochs, with a legend.
fn chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let all = || p.series.iter().flat_map(|s| s.points.iter());
    let xs = padded(all().map(|q| q.0), 0.0);
    let ys = padded(all().map(|q| q.1), 0.05);
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

/// The range of `v` widened by `margin` of its span on each side (and to
/// a span of at least 1 when every value is the same).
fn padded(v: impl Iterator<Item = f64>, margin: f64) -> Range<f64> {
    let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        return lo - 0.5..hi + 0.5;
    }
    lo - margin * span..hi + margin * span
}
