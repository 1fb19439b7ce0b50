//! Line and bar charts as PNG files, with no font on the system needed.
//!
//! plotters draws the chart into an RGB buffer (its bitmap backend, no
//! font-kit/fontconfig); [`Font8x8Backend`] wraps that backend and draws every
//! piece of text with the public-domain 8×8 bitmap font of the `font8x8`
//! crate, scaled to the requested size, so labels, ticks and the legend come
//! out the same on any machine. The `png` crate encodes the buffer.

use anyhow::{anyhow, Context, Result};
use font8x8::legacy::BASIC_LEGACY;
use plotters::prelude::*;
use plotters_backend::{
    text_anchor::{HPos, Pos, VPos},
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Pixels of one glyph cell before scaling.
const CELL: i32 = 8;

/// Integer scale of the 8×8 font for a requested text size in pixels.
fn scale_for(size: f64) -> i32 {
    ((size / 10.0).round() as i32).clamp(1, 4)
}

/// The 8×8 bitmap of `c` (row-major, least significant bit leftmost); `?` for
/// anything outside ASCII.
pub fn glyph(c: char) -> [u8; 8] {
    let i = if c.is_ascii() { c as usize } else { '?' as usize };
    BASIC_LEGACY[i]
}

/// The pixels `text` sets, at `scale`, from its top-left corner.
pub fn text_pixels(text: &str, scale: i32) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for (i, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 1 {
                    let (x0, y0) = (i as i32 * CELL * scale + col * scale, row as i32 * scale);
                    for dy in 0..scale {
                        for dx in 0..scale {
                            out.push((x0 + dx, y0 + dy));
                        }
                    }
                }
            }
        }
    }
    out
}

/// A backend that delegates drawing to `inner` and renders text itself.
pub struct Font8x8Backend<B> {
    inner: B,
}

impl<B: DrawingBackend> Font8x8Backend<B> {
    pub fn new(inner: B) -> Self {
        Self { inner }
    }
}

impl<B: DrawingBackend> DrawingBackend for Font8x8Backend<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let scale = scale_for(style.size());
        let (w, h) = (text.chars().count() as i32 * CELL * scale, CELL * scale);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Center => -w / 2,
            HPos::Right => -w,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let transform = style.transform();
        let (width, height) = self.get_size();
        for (x, y) in text_pixels(text, scale) {
            let (x, y) = transform.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && y >= 0 && x < width as i32 && y < height as i32 {
                self.inner.draw_pixel((x, y), color)?;
            }
        }
        Ok(())
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<B::ErrorType>> {
        let scale = scale_for(style.size());
        Ok(((text.chars().count() as i32 * CELL * scale) as u32, (CELL * scale) as u32))
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }
}

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
}

/// A chart of lines with points, axes from zero.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Draw y = x (grey, dashed) as a reference.
    pub diagonal: bool,
}

/// Colours for series, in order.
pub const PALETTE: [RGBColor; 4] =
    [RGBColor(0xd6, 0x27, 0x28), RGBColor(0x1f, 0x77, 0xb4), RGBColor(0x2c, 0xa0, 0x2c), RGBColor(0x94, 0x67, 0xbd)];

/// A range from 0 to a little above `max` (1 if there is nothing).
fn axis_max(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

/// Renders `chart` into an RGB buffer of `size` pixels.
pub fn render_rgb(chart: &Chart, size: (u32, u32)) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let backend = Font8x8Backend::new(BitMapBackend::with_buffer(&mut buf, size));
        let root = backend.into_drawing_area();
        let plot_err = |e: &dyn std::fmt::Display| anyhow!("plotting: {e}");
        root.fill(&WHITE).map_err(|e| plot_err(&e))?;
        let points = || chart.series.iter().flat_map(|s| s.points.iter());
        let x_max = axis_max(points().map(|p| p.0).fold(0.0, f64::max));
        let mut y_max = axis_max(points().map(|p| p.1).fold(0.0, f64::max));
        if chart.diagonal {
            y_max = y_max.max(x_max);
        }
        let mut c = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 20))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| plot_err(&e))?;
        c.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .label_style(("sans-serif", 10))
            .axis_desc_style(("sans-serif", 10))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|e| plot_err(&e))?;
        if chart.diagonal {
            let grey = RGBColor(0x99, 0x99, 0x99);
            let top = x_max.min(y_max);
            let dashes = (0..40).map(|i| {
                let (a, b) = (top * f64::from(2 * i) / 80.0, top * f64::from(2 * i + 1) / 80.0);
                PathElement::new(vec![(a, a), (b, b)], grey)
            });
            c.draw_series(dashes)
                .map_err(|e| plot_err(&e))?
                .label("delivered = offered")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        }
        for s in &chart.series {
            let color = s.color;
            c.draw_series(LineSeries::new(s.points.iter().copied(), Color::stroke_width(&color, 2)))
                .map_err(|e| plot_err(&e))?
                .label(s.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], Color::stroke_width(&color, 2)));
            c.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| plot_err(&e))?;
        }
        draw_legend(&mut c, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(|e| plot_err(&e))?;
    }
    Ok(buf)
}

/// Renders `chart` to a PNG file of `size` pixels.
pub fn write_png(chart: &Chart, size: (u32, u32), path: &Path) -> Result<()> {
    encode_png(&render_rgb(chart, size)?, size, path)
}

/// One series of a [`BarChart`]: a value per category.
#[derive(Clone, Debug)]
pub struct BarSeries {
    pub label: String,
    pub values: Vec<f64>,
    pub color: RGBColor,
}

/// Grouped bars: one group per category, one bar per series in each group,
/// each bar labelled with its value.
#[derive(Clone, Debug)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
}

/// The value printed above a bar: no decimals from 100 up, two below.
fn bar_value_label(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Renders `charts` side by side into one RGB buffer of `size` pixels.
pub fn render_bars_rgb(charts: &[BarChart], size: (u32, u32)) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let backend = Font8x8Backend::new(BitMapBackend::with_buffer(&mut buf, size));
        let root = backend.into_drawing_area();
        let plot_err = |e: &dyn std::fmt::Display| anyhow!("plotting: {e}");
        root.fill(&WHITE).map_err(|e| plot_err(&e))?;
        let panels = root.split_evenly((1, charts.len().max(1)));
        for (chart, area) in charts.iter().zip(&panels) {
            let groups = chart.categories.len().max(1);
            // Headroom above the tallest bar for its label and the legend.
            let y_max = 1.25 * axis_max(chart.series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max));
            let mut c = ChartBuilder::on(area)
                .caption(&chart.title, ("sans-serif", 10))
                .margin(20)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..groups as f64, 0.0..y_max)
                .map_err(|e| plot_err(&e))?;
            c.configure_mesh()
                .disable_x_mesh()
                .light_line_style(WHITE)
                .x_labels(0)
                .y_desc(chart.y_label.as_str())
                .label_style(("sans-serif", 10))
                .axis_desc_style(("sans-serif", 10))
                .y_label_formatter(&|v| format!("{v:.0}"))
                .draw()
                .map_err(|e| plot_err(&e))?;
            // Each group spans one x unit: bars fill its middle 80 %.
            let width = 0.8 / chart.series.len().max(1) as f64;
            for (k, s) in chart.series.iter().enumerate() {
                let color = s.color;
                let x0 = |i: usize| i as f64 + 0.1 + k as f64 * width;
                let bars =
                    s.values.iter().enumerate().map(|(i, &v)| {
                        Rectangle::new([(x0(i), 0.0), (x0(i) + width * 0.9, v.max(0.0))], color.filled())
                    });
                c.draw_series(bars)
                    .map_err(|e| plot_err(&e))?
                    .label(s.label.as_str())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], color.filled()));
                let above = TextStyle::from(("sans-serif", 10).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
                let labels =
                    s.values.iter().enumerate().map(|(i, &v)| {
                        Text::new(bar_value_label(v), (x0(i) + width * 0.45, v.max(0.0)), above.clone())
                    });
                c.draw_series(labels).map_err(|e| plot_err(&e))?;
            }
            // Category names under the axis, centred on their groups.
            let below = TextStyle::from(("sans-serif", 10).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
            for (i, name) in chart.categories.iter().enumerate() {
                let (x, y) = c.backend_coord(&(i as f64 + 0.5, 0.0));
                area.draw(&Text::new(
                    name.as_str(),
                    (x - area.get_base_pixel().0, y + 8 - area.get_base_pixel().1),
                    below.clone(),
                ))
                .map_err(|e| plot_err(&e))?;
            }
            draw_legend(&mut c, SeriesLabelPosition::UpperRight)?;
        }
        root.present().map_err(|e| plot_err(&e))?;
    }
    Ok(buf)
}

/// Renders `charts` side by side to a PNG file of `size` pixels.
pub fn write_bars_png(charts: &[BarChart], size: (u32, u32), path: &Path) -> Result<()> {
    encode_png(&render_bars_rgb(charts, size)?, size, path)
}

/// The legend box every chart uses, at `position`.
fn draw_legend<'a, DB, CT>(c: &mut ChartContext<'a, DB, CT>, position: SeriesLabelPosition) -> Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    c.configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 10))
        .draw()
        .map_err(|e| anyhow!("plotting: {e}"))
}

/// Encodes an RGB buffer of `size` pixels as a PNG file.
fn encode_png(rgb: &[u8], size: (u32, u32), path: &Path) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().with_context(|| format!("writing {}", path.display()))?;
    writer.write_image_data(rgb).with_context(|| format!("writing {}", path.display()))?;
    writer.finish().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_are_the_8x8_font() {
        // 'A': rows 0c 1e 33 33 3f 33 33 00, least significant bit leftmost.
        assert_eq!(glyph('A'), [0x0c, 0x1e, 0x33, 0x33, 0x3f, 0x33, 0x33, 0x00]);
        let px = text_pixels("A", 1);
        assert!(px.contains(&(2, 0)) && px.contains(&(3, 0)) && !px.contains(&(4, 0)));
        assert_eq!(px.len(), 2 + 4 + 4 + 4 + 6 + 4 + 4);
        // Scaled ×2: four times the pixels; the second character starts 16 pixels on.
        assert_eq!(text_pixels("A", 2).len(), 4 * px.len());
        assert!(text_pixels("AA", 1).iter().any(|&(x, _)| x >= 8));
        assert_eq!(glyph('é'), glyph('?'));
        assert!(text_pixels(" ", 3).is_empty());
        assert_eq!((scale_for(10.0), scale_for(20.0), scale_for(1.0), scale_for(99.0)), (1, 2, 1, 4));
    }

    #[test]
    fn a_chart_renders_to_a_png_with_text() {
        let chart = Chart {
            title: "delivered vs offered".into(),
            x_label: "offered (kpps)".into(),
            y_label: "delivered (kpps)".into(),
            series: vec![
                Series {
                    label: "irq".into(),
                    points: vec![(10.0, 10.0), (40.0, 30.0), (80.0, 5.0)],
                    color: PALETTE[0],
                },
                Series {
                    label: "napi".into(),
                    points: vec![(10.0, 10.0), (40.0, 38.0), (80.0, 45.0)],
                    color: PALETTE[1],
                },
            ],
            diagonal: true,
        };
        let size = (640, 400);
        let rgb = render_rgb(&chart, size).unwrap();
        // The title band (top 40 rows) has dark pixels: the text was drawn.
        let dark = |y0: usize, y1: usize| {
            (y0..y1)
                .flat_map(|y| (0..size.0 as usize).map(move |x| (y * size.0 as usize + x) * 3))
                .filter(|&i| rgb[i] < 80 && rgb[i + 1] < 80 && rgb[i + 2] < 80)
                .count()
        };
        assert!(dark(0, 40) > 50, "no title text");
        // Both series' colours appear.
        for c in [PALETTE[0], PALETTE[1]] {
            assert!(rgb.chunks(3).any(|p| p == [c.0, c.1, c.2]), "{c:?} missing");
        }
        let dir = crate::machine::ScratchDir::temporary("unit-plot").unwrap();
        let path = dir.path().join("chart.png");
        write_png(&chart, size, &path).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(File::open(&path).unwrap()));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), size);
        // Nothing to plot still renders.
        let empty = Chart { series: vec![], diagonal: false, ..chart };
        assert!(render_rgb(&empty, (200, 150)).is_ok());
    }

    #[test]
    fn bar_charts_render_side_by_side() {
        let chart = |title: &str, scale: f64| BarChart {
            title: title.into(),
            y_label: "IOPS".into(),
            categories: vec!["qd 1".into(), "qd 32".into()],
            series: vec![
                BarSeries { label: "vda".into(), values: vec![1000.0 * scale, 4000.0 * scale], color: PALETTE[1] },
                BarSeries { label: "ram0".into(), values: vec![9000.0 * scale, 12.5 * scale], color: PALETTE[2] },
            ],
        };
        let size = (800, 400);
        let rgb = render_bars_rgb(&[chart("left", 1.0), chart("right", 0.5)], size).unwrap();
        let px = |x: usize, y: usize| {
            let i = (y * size.0 as usize + x) * 3;
            [rgb[i], rgb[i + 1], rgb[i + 2]]
        };
        // Both colours appear in both halves.
        for c in [PALETTE[1], PALETTE[2]] {
            let half = |xs: std::ops::Range<usize>| {
                xs.clone().any(|x| (0..size.1 as usize).any(|y| px(x, y) == [c.0, c.1, c.2]))
            };
            assert!(half(0..400) && half(400..800), "{c:?} missing in a panel");
        }
        assert_eq!(bar_value_label(12.5), "12.50");
        assert_eq!(bar_value_label(4000.4), "4000");
        let dir = crate::machine::ScratchDir::temporary("unit-bars").unwrap();
        let path = dir.path().join("bars.png");
        write_bars_png(&[chart("only", 1.0)], size, &path).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(File::open(&path).unwrap()));
        assert_eq!(decoder.read_info().unwrap().info().width, size.0);
        assert!(render_bars_rgb(&[], (100, 100)).is_ok());
    }
}
