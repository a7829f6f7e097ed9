//! Log-log SVG plots, one per lane and scenario: cost against N, one line
//! per engine.

use super::report::{EngineSummary, LaneReport};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// What a plot shows.
pub struct Scenario {
    pub slug: &'static str,
    pub title: &'static str,
    pub y_label: &'static str,
    /// The value for one engine at one size.
    pub value: fn(&EngineSummary) -> Option<f64>,
}

fn op_us(e: &EngineSummary, op: &str) -> Option<f64> {
    e.ops.get(op).map(|s| s.median / 1e3)
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        slug: "fds",
        title: "files operation vs N open fds",
        y_label: "median µs",
        value: |e| op_us(e, "files"),
    },
    Scenario {
        slug: "maps",
        title: "memory-map operation vs N mappings",
        y_label: "median µs",
        value: |e| op_us(e, "mm"),
    },
    Scenario {
        slug: "dump",
        title: "whole warm dump vs N",
        y_label: "median µs",
        value: |e| e.dump.map(|d| d.median / 1e3),
    },
    Scenario {
        slug: "syscalls",
        title: "syscalls per dump vs N",
        y_label: "syscalls",
        value: |e| e.syscalls.map(|s| s as f64),
    },
];

/// One colour per engine, the same in every plot.
fn color(engine: &str) -> RGBColor {
    match engine {
        "crib" => RGBColor(0xd6, 0x27, 0x28),
        "upstream" => RGBColor(0x1f, 0x77, 0xb4),
        "procfs" => RGBColor(0x2c, 0xa0, 0x2c),
        "criu" => RGBColor(0x94, 0x67, 0xbd),
        _ => RGBColor(0xff, 0x7f, 0x0e),
    }
}

/// (engine, points) for one scenario; engines without points are left out.
pub fn series(lane: &LaneReport, sc: &Scenario) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for s in &lane.sizes {
        for e in s.engines.iter().filter(|e| e.unavailable.is_none()) {
            let Some(v) = (sc.value)(e).filter(|v| *v > 0.0) else {
                continue;
            };
            match out.iter_mut().find(|(n, _)| n == &e.engine) {
                Some((_, pts)) => pts.push((s.n as f64, v)),
                None => out.push((e.engine.clone(), vec![(s.n as f64, v)])),
            }
        }
    }
    out
}

fn pad_range(lo: f64, hi: f64) -> std::ops::Range<f64> {
    (lo / 1.5)..(hi * 1.5)
}

/// Draw one scenario of one lane to `path`. `None` when there is no data.
pub fn draw(lane: &LaneReport, sc: &Scenario, path: &Path) -> Result<Option<PathBuf>> {
    let data = series(lane, sc);
    let all: Vec<(f64, f64)> = data.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    if all.is_empty() {
        return Ok(None);
    }
    let (xmin, xmax) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ymin, ymax) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let e = |e: &dyn std::fmt::Display| anyhow!("plotting {}: {e}", path.display());
    let root = SVGBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let title = format!(
        "{} ({} lane, kernel {}{})",
        sc.title,
        lane.raw.lane,
        lane.raw.kernel,
        if lane.raw.emulated { ", emulated" } else { "" }
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            pad_range(xmin, xmax).log_scale(),
            pad_range(ymin, ymax).log_scale(),
        )
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("N (open fds = mappings)")
        .x_labels(6)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc(sc.y_label)
        .draw()
        .map_err(|x| e(&x))?;
    for (name, pts) in &data {
        let color = color(name);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|x| e(&x))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(Some(path.to_path_buf()))
}

/// File name of a lane's scenario plot.
pub fn file_name(lane: &str, sc: &Scenario) -> String {
    format!("dump-{lane}-{}.svg", sc.slug)
}
