//! pgfplots/TikZ renderer of a [`Plot`]: a `tikzpicture` sized to `\linewidth` whose data come
//! from `.dat` files (one per layer with points; whitespace-separated columns with a header).

use std::fmt::Write as _;

use super::plot::{Corner, Hue, Layer, Limits, Plot};
use super::{FigureOptions, Label, TikzFigure};
use crate::report::escape::{latex_label, latex_text};

fn colour(h: Hue) -> String {
    let (r, g, b) = h.rgb();
    format!("{{rgb,255:red,{r};green,{g};blue,{b}}}")
}

fn tex(l: &Label) -> String {
    l.tex.clone().unwrap_or_else(|| latex_text(&l.plain))
}

/// A number as pgfplots reads it: shortest round-trip decimal or scientific form.
fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-4..1e6).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

struct Files<'a> {
    opts: &'a FigureOptions,
    stem: String,
    files: Vec<(String, String)>,
}

impl Files<'_> {
    /// Adds a data file with the given header and rows; returns the path the code reads.
    fn add(&mut self, header: &str, rows: impl Iterator<Item = Vec<f64>>) -> String {
        let name = format!("{}-{}.dat", self.stem, self.files.len() + 1);
        let mut body = format!("{header}\n");
        for row in rows {
            let cells: Vec<String> = row.into_iter().map(num).collect();
            body.push_str(&cells.join(" "));
            body.push('\n');
        }
        self.files.push((name.clone(), body));
        format!("{}{}", self.opts.data_dir, name)
    }
}

/// Renders `plot` as pgfplots code plus data files.
pub(crate) fn render(plot: &Plot, opts: &FigureOptions) -> TikzFigure {
    let lim = plot.limits();
    let mut files = Files {
        opts,
        stem: latex_label(&opts.name),
        files: Vec::new(),
    };
    let mut out = String::from("\\begin{tikzpicture}\n\\begin{axis}[\n");
    let _ = writeln!(
        out,
        "  width=\\linewidth, height={},",
        if plot.equal {
            "\\linewidth"
        } else {
            "0.66\\linewidth"
        }
    );
    let _ = writeln!(
        out,
        "  xmin={}, xmax={}, ymin={}, ymax={},",
        num(lim.x.0),
        num(lim.x.1),
        num(lim.y.0),
        num(lim.y.1)
    );
    let _ = writeln!(
        out,
        "  xlabel={{{}}}, ylabel={{{}}},",
        tex(&plot.x_label),
        tex(&plot.y_label)
    );
    if plot.y_log {
        out.push_str("  ymode=log,\n");
    }
    let pos = match plot.legend {
        Corner::NorthWest => "north west",
        Corner::NorthEast => "north east",
        Corner::SouthEast => "south east",
    };
    let _ = writeln!(out, "  legend pos={pos}, legend cell align=left,");
    out.push_str("  legend style={font=\\scriptsize, fill=white, fill opacity=0.8, text opacity=1, draw opacity=1}, tick label style={font=\\scriptsize},\n");
    out.push_str("  label style={font=\\small}, scaled ticks=false,\n");
    out.push_str("  xticklabel style={/pgf/number format/fixed},\n]\n");
    for layer in &plot.layers {
        layer_tex(&mut out, &mut files, layer, lim);
    }
    out.push_str("\\end{axis}\n\\end{tikzpicture}\n");
    TikzFigure {
        tex: out,
        data_files: files.files,
    }
}

fn legend(out: &mut String, label: &Option<Label>) {
    if let Some(l) = label {
        let _ = writeln!(out, "\\addlegendentry{{{}}}", tex(l));
    }
}

fn forget(label: &Option<Label>) -> &'static str {
    if label.is_some() {
        ""
    } else {
        ", forget plot"
    }
}

fn xy_rows(pts: &[(f64, f64)]) -> impl Iterator<Item = Vec<f64>> + '_ {
    pts.iter().map(|&(x, y)| vec![x, y])
}

fn layer_tex(out: &mut String, files: &mut Files<'_>, layer: &Layer, lim: Limits) {
    match layer {
        Layer::XSpan { from, to, label } => {
            let c = colour(Hue::Grey);
            let _ = writeln!(
                out,
                "\\addplot[draw=none, fill={c}, fill opacity=0.2, area legend] coordinates {{({a},{y0}) ({a},{y1}) ({b},{y1}) ({b},{y0})}} -- cycle;",
                a = num(*from), b = num(*to), y0 = num(lim.y.0), y1 = num(lim.y.1)
            );
            legend(out, &Some(label.clone()));
        }
        Layer::Band { poly, hue, label } => {
            let f = files.add("x y", xy_rows(poly));
            let _ = writeln!(out, "\\addplot[draw=none, fill={}, fill opacity=0.25, area legend{}] table[x=x, y=y] {{{f}}} -- cycle;", colour(*hue), forget(label));
            legend(out, label);
        }
        Layer::Line {
            pts,
            hue,
            dashed,
            label,
        } => {
            let f = files.add("x y", xy_rows(pts));
            let d = if *dashed { ", dashed" } else { "" };
            let _ = writeln!(
                out,
                "\\addplot[color={}, thick, no markers{d}{}] table[x=x, y=y] {{{f}}};",
                colour(*hue),
                forget(label)
            );
            legend(out, label);
        }
        Layer::Points { pts, hue, label } => {
            let f = files.add("x y", xy_rows(pts));
            let _ = writeln!(out, "\\addplot[color={}, only marks, mark=*, mark size=1.2pt{}] table[x=x, y=y] {{{f}}};", colour(*hue), forget(label));
            legend(out, label);
        }
        Layer::ErrorBars { pts, hue, label } => {
            let f = files.add(
                "x y ep em",
                pts.iter().map(|&(x, y, lo, hi)| vec![x, y, hi - y, y - lo]),
            );
            let _ = writeln!(out, "\\addplot[color={}, only marks, mark=*, mark size=1.2pt{}, error bars/.cd, y dir=both, y explicit] table[x=x, y=y, y error plus=ep, y error minus=em] {{{f}}};", colour(*hue), forget(label));
            legend(out, label);
        }
        Layer::Spikes { pts, hue, label } => {
            let f = files.add("x y", xy_rows(pts));
            let _ = writeln!(
                out,
                "\\addplot[color={}, ycomb, thick, no markers{}] table[x=x, y=y] {{{f}}};",
                colour(*hue),
                forget(label)
            );
            legend(out, label);
        }
        Layer::HLine { y, hue, label } => {
            let _ = writeln!(out, "\\addplot[color={}, dashed, thick, no markers{}] coordinates {{({},{y}) ({},{y})}};", colour(*hue), forget(label), num(lim.x.0), num(lim.x.1), y = num(*y));
            legend(out, label);
        }
        Layer::Notes { items } => {
            for (x, y, s) in items {
                let _ = writeln!(out, "\\node[font=\\tiny, anchor=south west, inner sep=1pt] at (axis cs:{},{}) {{{}}};", num(*x), num(*y), latex_text(s));
            }
        }
    }
}
