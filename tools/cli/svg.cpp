// mmboost CLI: SVG line charts. See svg.h.
#include "tools/cli/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace mm::cli {

namespace {

// A colour-blind-friendly categorical palette (Tableau 10).
const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Tick label with as many decimals as the step needs.
std::string tick_label(double v, double step) {
  int decimals = 0;
  if (step > 0 && step < 1) decimals = std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  if (std::fabs(v) < step * 1e-6) v = 0.0;  // no "-0.00"
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

struct Box {
  double left, top, width, height;
};

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target, bool integer_only) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi - lo < 1e-12) {
    const double pad = std::max(std::fabs(lo) * 0.1, integer_only ? 1.0 : 0.5);
    lo -= pad;
    hi += pad;
  }
  const double rough = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(rough)));
  const double norm = rough / mag;
  double step = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
  if (integer_only) step = std::max(1.0, std::round(step));
  const double start = std::floor(lo / step + 1e-9) * step;
  const double end = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  for (int i = 0;; ++i) {
    double t = start + i * step;
    if (t > end + step * 1e-6 || i > 1000) break;
    ticks.push_back(t);
  }
  return ticks;
}

std::string line_chart_svg(const ChartOptions& opt, const std::vector<Series>& series) {
  // ---- data ranges ----------------------------------------------------------------------
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const auto& s : series) {
    const size_t n = std::min(s.x.size(), s.y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x_lo = std::min(x_lo, s.x[i]);
      x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i]);
      y_hi = std::max(y_hi, s.y[i]);
    }
  }
  const bool has_data = std::isfinite(x_lo);
  if (!has_data) {
    x_lo = 0;
    x_hi = 1;
    y_lo = 0;
    y_hi = 1;
  }
  if (opt.y_from_zero) {
    y_lo = std::min(y_lo, 0.0);
    y_hi = std::max(y_hi, 0.0);
  }
  if (std::isfinite(opt.y_min)) y_lo = opt.y_min;
  if (std::isfinite(opt.y_max)) y_hi = opt.y_max;
  std::vector<double> xt = nice_ticks(x_lo, x_hi, 8, /*integer_only=*/true);
  std::vector<double> yt = nice_ticks(y_lo, y_hi, 6, opt.integer_ticks);
  const double xa = xt.front(), xb = xt.back(), ya = yt.front(), yb = yt.back();
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1.0, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1.0;

  // ---- layout ---------------------------------------------------------------------------
  size_t longest = 0;
  for (const auto& s : series) longest = std::max(longest, s.name.size());
  const double legend_w = series.empty() ? 0.0 : 44.0 + 7.0 * static_cast<double>(longest);
  const Box plot{72.0, 44.0, std::max(80.0, opt.width - 72.0 - 20.0 - legend_w), opt.height - 44.0 - 56.0};
  auto px = [&](double x) { return plot.left + (x - xa) / (xb - xa) * plot.width; };
  auto py = [&](double y) { return plot.top + plot.height - (y - ya) / (yb - ya) * plot.height; };

  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << opt.width << "\" height=\""
    << opt.height << "\" viewBox=\"0 0 " << opt.width << " " << opt.height
    << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  o << "  <rect x=\"0\" y=\"0\" width=\"" << opt.width << "\" height=\"" << opt.height << "\" fill=\"#ffffff\"/>\n";
  if (!opt.title.empty()) {
    o << "  <text x=\"" << num(plot.left + plot.width / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" "
      << "font-weight=\"bold\">" << xml_escape(opt.title) << "</text>\n";
  }

  // ---- grid and ticks -------------------------------------------------------------------
  o << "  <g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  for (double t : yt) o << "    <line x1=\"" << num(plot.left) << "\" y1=\"" << num(py(t)) << "\" x2=\"" << num(plot.left + plot.width) << "\" y2=\"" << num(py(t)) << "\"/>\n";
  for (double t : xt) o << "    <line x1=\"" << num(px(t)) << "\" y1=\"" << num(plot.top) << "\" x2=\"" << num(px(t)) << "\" y2=\"" << num(plot.top + plot.height) << "\"/>\n";
  o << "  </g>\n";
  o << "  <rect x=\"" << num(plot.left) << "\" y=\"" << num(plot.top) << "\" width=\"" << num(plot.width) << "\" height=\""
    << num(plot.height) << "\" fill=\"none\" stroke=\"#444444\" stroke-width=\"1\"/>\n";
  o << "  <g fill=\"#333333\">\n";
  for (double t : yt) {
    o << "    <text x=\"" << num(plot.left - 6) << "\" y=\"" << num(py(t) + 4) << "\" text-anchor=\"end\">"
      << tick_label(t, ystep) << "</text>\n";
  }
  for (double t : xt) {
    o << "    <text x=\"" << num(px(t)) << "\" y=\"" << num(plot.top + plot.height + 18) << "\" text-anchor=\"middle\">"
      << tick_label(t, xstep) << "</text>\n";
  }
  o << "  </g>\n";
  if (!opt.x_label.empty()) {
    o << "  <text x=\"" << num(plot.left + plot.width / 2) << "\" y=\"" << num(plot.top + plot.height + 42)
      << "\" text-anchor=\"middle\" font-size=\"13\">" << xml_escape(opt.x_label) << "</text>\n";
  }
  if (!opt.y_label.empty()) {
    const double cx = 18, cy = plot.top + plot.height / 2;
    o << "  <text x=\"" << num(cx) << "\" y=\"" << num(cy) << "\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 "
      << num(cx) << " " << num(cy) << ")\">" << xml_escape(opt.y_label) << "</text>\n";
  }
  if (!has_data) {
    o << "  <text x=\"" << num(plot.left + plot.width / 2) << "\" y=\"" << num(plot.top + plot.height / 2)
      << "\" text-anchor=\"middle\" fill=\"#888888\">no data</text>\n";
  }

  // ---- series (clipped to the plot area: a fixed y range may cut a series) ------------------
  o << "  <defs>\n    <clipPath id=\"plot-area\"><rect x=\"" << num(plot.left) << "\" y=\"" << num(plot.top - 3)
    << "\" width=\"" << num(plot.width) << "\" height=\"" << num(plot.height + 6) << "\"/></clipPath>\n  </defs>\n";
  for (size_t si = 0; si < series.size(); ++si) {
    const Series& s = series[si];
    const char* colour = kPalette[si % (sizeof kPalette / sizeof kPalette[0])];
    const size_t n = std::min(s.x.size(), s.y.size());
    std::ostringstream d;
    bool pen_down = false;
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        pen_down = false;
        continue;
      }
      const double X = px(s.x[i]), Y = py(s.y[i]);
      if (!pen_down) {
        d << (d.tellp() > 0 ? " " : "") << "M" << num(X) << " " << num(Y);
        pen_down = true;
      } else if (s.step) {
        d << " H" << num(X) << " V" << num(Y);
      } else {
        d << " L" << num(X) << " " << num(Y);
      }
    }
    o << "  <g clip-path=\"url(#plot-area)\">\n    <title>" << xml_escape(s.name) << "</title>\n";
    if (d.tellp() > 0) {
      o << "    <path d=\"" << d.str() << "\" fill=\"none\" stroke=\"" << colour
        << "\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"";
      if (s.dashed) o << " stroke-dasharray=\"6 4\"";
      o << "/>\n";
    }
    // A lone point (one epoch, or a point between gaps) has no line: give it a dot.
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      const bool prev = i > 0 && std::isfinite(s.x[i - 1]) && std::isfinite(s.y[i - 1]);
      const bool next = i + 1 < n && std::isfinite(s.x[i + 1]) && std::isfinite(s.y[i + 1]);
      if (s.markers || (!prev && !next)) {
        o << "    <circle cx=\"" << num(px(s.x[i])) << "\" cy=\"" << num(py(s.y[i])) << "\" r=\"3\" fill=\"" << colour << "\"/>\n";
      }
    }
    o << "  </g>\n";
  }

  // ---- legend ---------------------------------------------------------------------------
  if (!series.empty()) {
    const double lx = plot.left + plot.width + 16;
    o << "  <g font-size=\"12\">\n";
    for (size_t si = 0; si < series.size(); ++si) {
      const char* colour = kPalette[si % (sizeof kPalette / sizeof kPalette[0])];
      const double ly = plot.top + 10 + 20.0 * static_cast<double>(si);
      o << "    <line x1=\"" << num(lx) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(lx + 24) << "\" y2=\"" << num(ly)
        << "\" stroke=\"" << colour << "\" stroke-width=\"2\"" << (series[si].dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n";
      o << "    <text x=\"" << num(lx + 30) << "\" y=\"" << num(ly + 4) << "\">" << xml_escape(series[si].name) << "</text>\n";
    }
    o << "  </g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace mm::cli
