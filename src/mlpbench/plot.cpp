// See plot.hpp. A standalone SVG 1.1 document, drawn by hand: two log-log panels side by side (latency per
// forward in ms, throughput in inferences/s, both against batch size) and a legend below them.
// One series per (file, device, cache mode) with cells: a <g class="series" data-file data-device data-cache data-reference> holding,
// for each panel, polylines through its points sorted by batch and a circle per point. The device sets the hue
// (CPU blue, GPU orange), the file its shade and line width; a segment touching a reference cell is dashed
// and a reference point is a hollow circle; a cold series (run --cache) is dotted. Each file's crossover (table.hpp) is a dashed vertical line on the
// latency panel, "crossover ~N". Axes span whole decades around the data; every text is XML-escaped.
#include "mlpbench/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "mlpbench/errors.hpp"
#include "mlpbench/report.hpp"

namespace mlpbench {
namespace {

struct Point {
  int batch = 0;
  double ms = 0;
  bool reference = false;
  double per_s() const { return batch / (ms / 1000.0); }  // inferences per second
};

struct Series {
  std::string file;
  std::string device;
  std::size_t file_index = 0;
  bool cold = false;          // the run's cold cells (--cache): drawn dotted
  std::vector<Point> points;  // ascending batch
  bool all_reference() const {
    return std::all_of(points.begin(), points.end(), [](const Point& p) { return p.reference; });
  }
  bool any_reference() const {
    return std::any_of(points.begin(), points.end(), [](const Point& p) { return p.reference; });
  }
};

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A decade's label: 0.001 ... 1000, then 10k, 100k, 1M, ...
std::string decade_label(int k) {
  if (k < 0) return "0." + std::string(static_cast<std::size_t>(-k - 1), '0') + "1";
  if (k < 4) return "1" + std::string(static_cast<std::size_t>(k), '0');
  static const char* suffix[] = {"k", "M", "G", "T"};
  const int group = std::min(k / 3, 4);
  return "1" + std::string(static_cast<std::size_t>(k - 3 * group), '0') + suffix[group - 1];
}

// log10 axis: ticks at the decades d0..d1 that enclose the data, drawn over [lo, hi] (a little wider).
struct LogAxis {
  int d0 = 0, d1 = 1;
  double lo = 0, hi = 1;
  LogAxis() = default;
  LogAxis(double min, double max) {
    d0 = static_cast<int>(std::floor(std::log10(min) + 1e-9));
    d1 = static_cast<int>(std::ceil(std::log10(max) - 1e-9));
    if (d1 <= d0) d1 = d0 + 1;
    const double pad = 0.04 * (d1 - d0);
    lo = d0 - pad;
    hi = d1 + pad;
  }
  double frac(double v) const { return (std::log10(v) - lo) / (hi - lo); }
};

struct Panel {
  double x, y, w, h;  // the plot area
  LogAxis ax, ay;
  double px(double v) const { return x + ax.frac(v) * w; }
  double py(double v) const { return y + h - ay.frac(v) * h; }
};

constexpr const char* kFont = "font-family=\"sans-serif\"";

void draw_axes(std::ostream& o, const Panel& p, const std::string& title, const std::string& ytitle) {
  o << "<g class=\"axes\">\n<rect x=\"" << num(p.x) << "\" y=\"" << num(p.y) << "\" width=\"" << num(p.w) << "\" height=\""
    << num(p.h) << "\" fill=\"#fcfcfc\" stroke=\"#888\"/>\n";
  const auto grid = [&](const LogAxis& a, bool vertical) {
    for (int k = a.d0; k <= a.d1; ++k) {
      for (int m = 1; m <= 9; ++m) {
        const double v = m * std::pow(10.0, k);
        if (std::log10(v) > a.hi || (k == a.d1 && m > 1)) break;
        const char* colour = m == 1 ? "#d0d0d0" : "#eeeeee";
        if (vertical) {
          const double x = p.px(v);
          o << "<line x1=\"" << num(x) << "\" y1=\"" << num(p.y) << "\" x2=\"" << num(x) << "\" y2=\"" << num(p.y + p.h)
            << "\" stroke=\"" << colour << "\"/>\n";
          if (m == 1)
            o << "<text class=\"tick\" x=\"" << num(x) << "\" y=\"" << num(p.y + p.h + 16) << "\" text-anchor=\"middle\" "
              << kFont << " font-size=\"11\">" << decade_label(k) << "</text>\n";
        } else {
          const double y = p.py(v);
          o << "<line x1=\"" << num(p.x) << "\" y1=\"" << num(y) << "\" x2=\"" << num(p.x + p.w) << "\" y2=\"" << num(y)
            << "\" stroke=\"" << colour << "\"/>\n";
          if (m == 1)
            o << "<text class=\"tick\" x=\"" << num(p.x - 6) << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\" " << kFont
              << " font-size=\"11\">" << decade_label(k) << "</text>\n";
        }
      }
    }
  };
  grid(p.ax, true);
  grid(p.ay, false);
  o << "<text class=\"panel-title\" x=\"" << num(p.x + p.w / 2) << "\" y=\"" << num(p.y - 10) << "\" text-anchor=\"middle\" "
    << kFont << " font-size=\"14\" font-weight=\"bold\">" << esc(title) << "</text>\n";
  o << "<text class=\"axis-title\" x=\"" << num(p.x + p.w / 2) << "\" y=\"" << num(p.y + p.h + 38)
    << "\" text-anchor=\"middle\" " << kFont << " font-size=\"12\">batch size (rows)</text>\n";
  const double yx = p.x - 52, yy = p.y + p.h / 2;
  o << "<text class=\"axis-title\" x=\"" << num(yx) << "\" y=\"" << num(yy) << "\" transform=\"rotate(-90 " << num(yx) << " "
    << num(yy) << ")\" text-anchor=\"middle\" " << kFont << " font-size=\"12\">" << esc(ytitle) << "</text>\n</g>\n";
}

// Shades per file (cycled): CPU blues, GPU oranges.
std::string colour(const Series& s) {
  static const char* cpu[] = {"#1f5fa8", "#56a0e0", "#0b2f5c", "#7fb0d8"};
  static const char* gpu[] = {"#d55e00", "#f0a020", "#8a3b00", "#e08060"};
  return (s.device == "GPU" ? gpu : cpu)[s.file_index % 4];
}
double width(const Series& s) { return s.file_index % 2 == 0 ? 2.5 : 1.6; }
constexpr const char* kDash = "6 4";
constexpr const char* kDot = "2 3";  // a cold series: the caches evicted before each forward

// The stroke-dasharray attribute of a line: dotted when cold, dashed over reference cells, else none.
std::string dashing(bool cold, bool reference) {
  if (!cold && !reference) return "";
  return std::string(" stroke-dasharray=\"") + (cold ? kDot : kDash) + "\"";
}

// The series in one panel: runs of segments with the same dashing as one polyline each, then the markers.
void draw_series(std::ostream& o, const Panel& p, const Series& s, bool latency) {
  const char* panel = latency ? "latency" : "throughput";
  const auto value = [&](const Point& pt) { return latency ? pt.ms : pt.per_s(); };
  const auto label = [&](const Point& pt) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.4g inferences/s", pt.per_s());
    return latency ? format_ms(pt.ms) + " ms" : std::string(buf);
  };
  const std::string c = colour(s);
  for (std::size_t i = 1; i < s.points.size();) {
    const bool dashed = s.points[i - 1].reference || s.points[i].reference;
    std::size_t j = i;
    while (j + 1 < s.points.size() && (s.points[j].reference || s.points[j + 1].reference) == dashed) ++j;
    o << "<polyline class=\"line " << panel << "\" fill=\"none\" stroke=\"" << c << "\" stroke-width=\"" << width(s) << "\""
      << dashing(s.cold, dashed) << " points=\"";
    for (std::size_t k = i - 1; k <= j; ++k) o << (k >= i ? " " : "") << num(p.px(s.points[k].batch)) << "," << num(p.py(value(s.points[k])));
    o << "\"/>\n";
    i = j + 1;
  }
  for (const Point& pt : s.points) {
    o << "<circle class=\"marker " << panel << "\" cx=\"" << num(p.px(pt.batch)) << "\" cy=\"" << num(p.py(value(pt)))
      << "\" r=\"3.5\" fill=\"" << (pt.reference ? "#ffffff" : c) << "\" stroke=\"" << c << "\" stroke-width=\"1.5\"><title>"
      << esc(s.file) << " " << s.device << " batch " << pt.batch << (s.cold ? " cold" : "") << ": " << label(pt)
      << (pt.reference ? " (reference)" : "") << "</title></circle>\n";
  }
}

}  // namespace

std::string plot_svg(const std::vector<std::pair<std::string, Results>>& files) {
  std::vector<Series> series;
  for (std::size_t fi = 0; fi < files.size(); ++fi) {
    for (const Table* table : tables_of(files[fi].second)) {
      for (const char* device : kDevices) {
        const auto d = table->cells.find(device);
        if (d == table->cells.end()) continue;
        Series s{files[fi].first, device, fi, is_cold(*table), {}};
        for (const auto& [batch, cell] : d->second) {  // std::map: ascending batch
          const double ms = cell.median_ms();
          if (batch > 0 && ms > 0 && std::isfinite(ms)) s.points.push_back({batch, ms, cell.source == Source::Reference});
        }
        if (!s.points.empty()) series.push_back(std::move(s));
      }
    }
  }
  if (series.empty()) throw InputError("plot: no results file has a cell to draw");

  // Data ranges, then the two panels on whole decades around them.
  double b0 = 1e300, b1 = 0, l0 = 1e300, l1 = 0, t0 = 1e300, t1 = 0;
  for (const Series& s : series) {
    for (const Point& p : s.points) {
      b0 = std::min(b0, double(p.batch)), b1 = std::max(b1, double(p.batch));
      l0 = std::min(l0, p.ms), l1 = std::max(l1, p.ms);
      t0 = std::min(t0, p.per_s()), t1 = std::max(t1, p.per_s());
    }
  }
  const double W = 1000, top = 80, ph = 320, legend_top = top + ph + 72, row = 20;
  const Panel lat{90, top, 380, ph, LogAxis(b0, b1), LogAxis(l0, l1)};
  const Panel thr{600, top, 380, ph, LogAxis(b0, b1), LogAxis(t0, t1)};
  const double H = legend_top + row * static_cast<double>(series.size()) + 12;

  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << num(W) << "\" height=\"" << num(H)
    << "\" viewBox=\"0 0 " << num(W) << " " << num(H) << "\">\n<title>mlpbench: latency and throughput by batch size</title>\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  std::string model;
  for (const auto& [label, r] : files) {
    std::string layers;
    for (int n : r.model.layers) layers += (layers.empty() ? "" : "-") + std::to_string(n);
    model = model.empty() || model == layers ? layers : "various";
  }
  o << "<text x=\"" << num(W / 2) << "\" y=\"26\" text-anchor=\"middle\" " << kFont
    << " font-size=\"16\" font-weight=\"bold\">MLP forward pass: CPU vs GPU by batch size</text>\n";
  if (!model.empty() && model != "various")
    o << "<text x=\"" << num(W / 2) << "\" y=\"44\" text-anchor=\"middle\" " << kFont << " font-size=\"12\" fill=\"#555\">model "
      << esc(model) << "; dashed lines and hollow markers: reference values, not measured"
      << (std::any_of(series.begin(), series.end(), [](const Series& x) { return x.cold; }) ? "; dotted: cold, the caches evicted before each forward"
                                                                                           : "")
      << "</text>\n";
  draw_axes(o, lat, "Latency", "latency per forward (ms)");
  draw_axes(o, thr, "Throughput", "throughput (inferences/s)");

  // Crossovers first, so the lines are drawn over them.
  int marked = 0;
  for (const auto& [label, r] : files) {
    for (const Table* table : tables_of(r)) {
      const Crossover x = crossover(*table);
      if (!x.batch || !(x.exact > 0) || !std::isfinite(x.exact)) continue;
      const bool cold = is_cold(*table);
      const double cx = lat.px(x.exact), ty = lat.y + 16 + 15 * marked++;
      const bool left = cx > lat.x + 0.6 * lat.w;
      const std::string text =
          std::string(cold ? "cold crossover ~" : "crossover ~") + std::to_string(*x.batch) + (files.size() > 1 ? " (" + label + ")" : "");
      o << "<g class=\"crossover\" data-file=\"" << esc(label) << "\" data-cache=\"" << (cold ? "cold" : "hot") << "\" data-batch=\"" << *x.batch << "\">\n<line x1=\"" << num(cx)
        << "\" y1=\"" << num(lat.y) << "\" x2=\"" << num(cx) << "\" y2=\"" << num(lat.y + lat.h)
        << "\" stroke=\"#444\" stroke-width=\"1.2\" stroke-dasharray=\"3 3\"/>\n<text x=\"" << num(cx + (left ? -4 : 4)) << "\" y=\""
        << num(ty) << "\" text-anchor=\"" << (left ? "end" : "start") << "\" " << kFont << " font-size=\"11\" fill=\"#333\">"
        << esc(text) << "</text>\n</g>\n";
    }
  }

  std::ostringstream legend;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    const std::string name = s.file + " \xE2\x80\x94 " + s.device + (s.cold ? " cold" : "") +
                             (s.all_reference() ? " (reference)" : s.any_reference() ? " (partly reference)" : "");
    o << "<g class=\"series\" data-file=\"" << esc(s.file) << "\" data-device=\"" << s.device << "\" data-cache=\"" << (s.cold ? "cold" : "hot")
      << "\" data-reference=\""
      << (s.all_reference() ? "true" : "false") << "\">\n<title>" << esc(name) << "</title>\n";
    draw_series(o, lat, s, true);
    draw_series(o, thr, s, false);
    o << "</g>\n";
    // Its legend entry: a short line in the series' style, a marker, the name.
    const double y = legend_top + row * static_cast<double>(i), c = lat.x + 20;
    legend << "<g class=\"legend-entry\" data-file=\"" << esc(s.file) << "\" data-device=\"" << s.device << "\" data-cache=\""
           << (s.cold ? "cold" : "hot") << "\">\n<line x1=\"" << num(lat.x) << "\" y1=\"" << num(y) << "\" x2=\"" << num(lat.x + 40) << "\" y2=\""
      << num(y) << "\" stroke=\"" << colour(s) << "\" stroke-width=\"" << width(s) << "\""
      << dashing(s.cold, s.all_reference()) << "/>\n<circle cx=\"" << num(c)
      << "\" cy=\"" << num(y) << "\" r=\"3.5\" fill=\"" << (s.all_reference() ? "#ffffff" : colour(s)) << "\" stroke=\""
      << colour(s) << "\" stroke-width=\"1.5\"/>\n<text x=\"" << num(lat.x + 50) << "\" y=\"" << num(y + 4) << "\" " << kFont
      << " font-size=\"12\">" << esc(name) << "</text>\n</g>\n";
  }
  o << "<g class=\"legend\">\n" << legend.str() << "</g>\n</svg>\n";
  return o.str();
}

}  // namespace mlpbench
