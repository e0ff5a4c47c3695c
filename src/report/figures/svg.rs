//! SVG renderer of a [`Plot`] with plotters' SVG backend (no font files needed: text is emitted
//! as `<text>` elements in a generic `sans-serif` family and sized by plotters' estimate).

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::plot::{tick_label, Corner, Hue, Layer, Limits, Plot};
use super::FigureError;

type Chart<'a, Y> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, Y>>;

fn colour(h: Hue) -> RGBColor {
    let (r, g, b) = h.rgb();
    RGBColor(r, g, b)
}

fn draw_err<E: std::fmt::Debug>(e: E) -> FigureError {
    FigureError::Draw(format!("{e:?}"))
}

/// Renders `plot` as an SVG document of `size` pixels.
pub(crate) fn render(plot: &Plot, size: (u32, u32)) -> Result<String, FigureError> {
    let lim = plot.limits();
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin(14)
            .x_label_area_size(46)
            .y_label_area_size(66);
        let x = lim.x.0..lim.x.1;
        if plot.y_log {
            let chart = builder
                .build_cartesian_2d(x, (lim.y.0..lim.y.1).log_scale())
                .map_err(draw_err)?;
            draw(chart, plot, lim)?;
        } else {
            let chart = builder
                .build_cartesian_2d(x, lim.y.0..lim.y.1)
                .map_err(draw_err)?;
            draw(chart, plot, lim)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(buf)
}

fn draw<'a, Y>(mut chart: Chart<'a, Y>, plot: &Plot, lim: Limits) -> Result<(), FigureError>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_desc(plot.x_label.plain.as_str())
        .y_desc(plot.y_label.plain.as_str())
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(draw_err)?;
    let mut any_label = false;
    for layer in &plot.layers {
        any_label |= draw_layer(&mut chart, layer, lim)?;
    }
    if any_label {
        let pos = match plot.legend {
            Corner::NorthWest => SeriesLabelPosition::UpperLeft,
            Corner::NorthEast => SeriesLabelPosition::UpperRight,
            Corner::SouthEast => SeriesLabelPosition::LowerRight,
        };
        chart
            .configure_series_labels()
            .position(pos)
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

/// Draws a shaded span, band or the notes; `None` for the other layers.
fn draw_fill_layer<'a, Y>(
    chart: &mut Chart<'a, Y>,
    layer: &Layer,
    lim: Limits,
) -> Result<Option<bool>, FigureError>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    match layer {
        Layer::XSpan { from, to, label } => {
            let style = colour(Hue::Grey).mix(0.18).filled();
            let a = chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(*from, lim.y.0), (*to, lim.y.1)],
                    style,
                )))
                .map_err(draw_err)?;
            legend_box(a, &label.plain, style);
            Ok(Some(true))
        }
        Layer::Band { poly, hue, label } => {
            let style = colour(*hue).mix(0.22).filled();
            let a = chart
                .draw_series(std::iter::once(Polygon::new(poly.clone(), style)))
                .map_err(draw_err)?;
            if let Some(l) = label {
                legend_box(a, &l.plain, style);
            }
            Ok(Some(label.is_some()))
        }
        Layer::Notes { items } => {
            chart
                .draw_series(items.iter().map(|(x, y, s)| {
                    EmptyElement::at((*x, *y))
                        + Text::new(s.clone(), (4, -16), ("sans-serif", 12).into_font())
                }))
                .map_err(draw_err)?;
            Ok(Some(false))
        }
        _ => Ok(None),
    }
}

/// Draws one layer; returns whether it added a legend entry.
fn draw_layer<'a, Y>(
    chart: &mut Chart<'a, Y>,
    layer: &Layer,
    lim: Limits,
) -> Result<bool, FigureError>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    if let Some(legend) = draw_fill_layer(chart, layer, lim)? {
        return Ok(legend);
    }
    let (anno, label, hue, dot) = match layer {
        Layer::Line {
            pts,
            hue,
            dashed,
            label,
        } => {
            let style = colour(*hue).stroke_width(2);
            let a = if *dashed {
                chart.draw_series(DashedLineSeries::new(pts.iter().copied(), 8, 5, style))
            } else {
                chart.draw_series(LineSeries::new(pts.iter().copied(), style))
            }
            .map_err(draw_err)?;
            (a, label, *hue, false)
        }
        Layer::Points { pts, hue, label } => {
            let c = colour(*hue);
            let a = chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))
                .map_err(draw_err)?;
            (a, label, *hue, true)
        }
        Layer::ErrorBars { pts, hue, label } => {
            let c = colour(*hue);
            chart
                .draw_series(pts.iter().map(|&(x, _, lo, hi)| {
                    PathElement::new(vec![(x, lo), (x, hi)], c.stroke_width(1))
                }))
                .map_err(draw_err)?;
            let a = chart
                .draw_series(
                    pts.iter()
                        .map(|&(x, y, _, _)| Circle::new((x, y), 3, c.filled())),
                )
                .map_err(draw_err)?;
            (a, label, *hue, true)
        }
        Layer::Spikes { pts, hue, label } => {
            let c = colour(*hue);
            let base = if lim.y.0 > 0.0 { lim.y.0 } else { 0.0 };
            let a =
                chart
                    .draw_series(pts.iter().map(|&(x, y)| {
                        PathElement::new(vec![(x, base), (x, y)], c.stroke_width(2))
                    }))
                    .map_err(draw_err)?;
            (a, label, *hue, false)
        }
        Layer::HLine { y, hue, label } => {
            let style = colour(*hue).stroke_width(2);
            let a = chart
                .draw_series(DashedLineSeries::new(
                    [(lim.x.0, *y), (lim.x.1, *y)],
                    8,
                    5,
                    style,
                ))
                .map_err(draw_err)?;
            (a, label, *hue, false)
        }
        Layer::XSpan { .. } | Layer::Band { .. } | Layer::Notes { .. } => {
            unreachable!("drawn by draw_fill_layer")
        }
    };
    match label {
        Some(l) => {
            let c = colour(hue);
            let a = anno.label(l.plain.as_str());
            if dot {
                a.legend(move |(x, y)| Circle::new((x + 9, y), 3, c.filled()));
            } else {
                a.legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            }
            Ok(true)
        }
        None => Ok(false),
    }
}

fn legend_box<DB: DrawingBackend>(
    a: &mut plotters::chart::SeriesAnno<'_, DB>,
    label: &str,
    style: ShapeStyle,
) {
    a.label(label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], style));
}
