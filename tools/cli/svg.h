// mmboost CLI: a small hand-written SVG line chart (axes with "nice" ticks, grid, legend,
// several series). Output is a standalone SVG 1.1 document that browsers and rsvg render.
#pragma once

#include <cmath>
#include <string>
#include <vector>

namespace mm::cli {

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length; a NaN y breaks the line (a gap)
  bool dashed = false;
  bool step = false;         // draw as a step function (value holds until the next x)
  bool markers = false;      // a dot at every point
};

struct ChartOptions {
  std::string title;
  std::string x_label = "epoch";
  std::string y_label;
  int width = 720, height = 420;
  bool y_from_zero = false;      // include 0 in the y range
  bool integer_ticks = false;    // y ticks at whole numbers (counts)
  double y_min = NAN, y_max = NAN;  // fixed range where given (NaN: from the data)
};

// The SVG document.
std::string line_chart_svg(const ChartOptions& opt, const std::vector<Series>& series);

// Tick positions covering [lo, hi] at a 1/2/5 x 10^k step, about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target, bool integer_only = false);

// Escapes &, <, >, " and ' for XML text and attribute values.
std::string xml_escape(const std::string& s);

}  // namespace mm::cli
