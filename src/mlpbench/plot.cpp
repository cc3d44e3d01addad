// See plot.hpp. A standalone SVG 1.1 document, drawn by hand: two log-log panels side by side (latency per
// forward in ms, throughput in inferences/s, both against batch size) and a legend below them.
// One series per (file, device, cache mode) with cells: a <g class="series" data-file data-device data-cache
// data-reference data-illustrative> holding, for each panel, polylines through its points sorted by batch and a
// circle per point. Data (cells measured here, or measured elsewhere and promoted) takes Okabe-Ito's colour-blind-safe
// colours, cool for the CPU and warm for the GPU, one per file (a cold series shares its hot one's); the file also
// sets the line width.
// Illustrative cells (is_measurement false) look unlike data: grey, dashed, hollow markers, labelled in the legend
// and in a bold note under the title; a reference column several files share (same file, same values) is drawn once.
// Emulated cells (run on a CUDA emulator) hold no time: not drawn, and a note under the title says which.
// A cold series (run --cache) is dotted. Each file's crossover (table.hpp, from measurements only) is a dashed
// vertical line on the latency panel, "crossover ~N". Axes span whole decades around the data; every text is
// XML-escaped. Under load (Results::serving), a third panel below the legend: a <g class="serving-series" data-file
// data-device data-run data-source> per run, a polyline of its steps' (achieved rate, p99) in order of offered rate
// (dashed when simulated) and a marker per step, filled where it met the bound; each bound a <g class="bound"
// data-slo-ms> horizontal line; a legend of the runs.
#include "mlpbench/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <sstream>

#include "mlpbench/errors.hpp"
#include "mlpbench/report.hpp"

namespace mlpbench {
namespace {

struct Point {
  int batch = 0;
  double ms = 0;
  bool reference = false;     // from a reference file
  bool illustrative = false;  // a reference value that is no measurement (is_measurement)
  std::string from;           // reference: the file
  std::string source;         // "" (measured here), "measured elsewhere: <machine>, <date>", "illustrative, not measured"
  double per_s() const { return batch / (ms / 1000.0); }  // inferences per second
  bool operator==(const Point& o) const {
    return batch == o.batch && ms == o.ms && reference == o.reference && from == o.from && source == o.source;
  }
};

struct Series {
  std::vector<std::string> files;  // the files holding it: several when they share a reference column
  std::string device;
  std::size_t file_index = 0;      // the first file's
  bool cold = false;               // the run's cold cells (--cache): drawn dotted
  std::vector<Point> points;       // ascending batch
  std::string colour;              // of its data; illustrative cells are grey
  bool all(bool Point::*f) const {
    return std::all_of(points.begin(), points.end(), [&](const Point& p) { return p.*f; });
  }
  bool any(bool Point::*f) const {
    return std::any_of(points.begin(), points.end(), [&](const Point& p) { return p.*f; });
  }
};

// Where a cell's number comes from, as report's lines say it; the machine and date only when short.
std::string source_of(const Cell& c) {
  if (c.source == Source::Measured) return "";
  if (!is_measurement(c)) return "illustrative, not measured";
  std::string where = c.provenance.machine;
  if (!c.provenance.date.empty()) where += (where.empty() ? "" : ", ") + c.provenance.date.substr(0, 10);
  return "measured elsewhere" + (where.empty() || where.size() > 48 ? std::string() : ": " + where);
}

template <class Strings>
std::string joined(const Strings& v, const std::string& sep) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

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
constexpr double kNoteRow = 18, kLegendRow = 20, kLoadHeight = 300;  // a note under the title, a legend entry; the serving panel

void draw_axes(std::ostream& o, const Panel& p, const std::string& title, const std::string& ytitle, const std::string& xtitle = "batch size (rows)") {
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
    << "\" text-anchor=\"middle\" " << kFont << " font-size=\"12\">" << esc(xtitle) << "</text>\n";
  const double yx = p.x - 52, yy = p.y + p.h / 2;
  o << "<text class=\"axis-title\" x=\"" << num(yx) << "\" y=\"" << num(yy) << "\" transform=\"rotate(-90 " << num(yx) << " "
    << num(yy) << ")\" text-anchor=\"middle\" " << kFont << " font-size=\"12\">" << esc(ytitle) << "</text>\n</g>\n";
}

// Okabe-Ito's colour-blind-safe palette: the CPU takes its cool colours, the GPU its warm ones, file after file
// (cycled); illustrative cells are grey.
constexpr const char* kCpuColours[] = {"#0072b2", "#009e73", "#000000"};  // blue, bluish green, black
constexpr const char* kGpuColours[] = {"#d55e00", "#cc79a7", "#e69f00"};  // vermillion, reddish purple, orange
constexpr const char* kGrey = "#8c8c8c";
double width(const Series& s) { return s.file_index % 2 == 0 ? 2.5 : 1.6; }
constexpr const char* kDash = "6 4";
constexpr const char* kDot = "2 3";  // a cold series: the caches evicted before each forward

// The stroke-dasharray attribute of a line: dotted when cold, dashed over illustrative cells, else none.
std::string dashing(bool cold, bool illustrative) {
  if (!cold && !illustrative) return "";
  return std::string(" stroke-dasharray=\"") + (cold ? kDot : kDash) + "\"";
}

// The series in one panel: runs of segments with the same look as one polyline each (a segment touching an
// illustrative cell grey and dashed), then the markers (an illustrative one grey and hollow). An illustrative series
// is also named beside its last point, as grey lines carry no device colour.
void draw_series(std::ostream& o, const Panel& p, const Series& s, bool latency) {
  const char* panel = latency ? "latency" : "throughput";
  const auto value = [&](const Point& pt) { return latency ? pt.ms : pt.per_s(); };
  const auto label = [&](const Point& pt) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.4g inferences/s", pt.per_s());
    return latency ? format_ms(pt.ms) + " ms" : std::string(buf);
  };
  for (std::size_t i = 1; i < s.points.size();) {
    const bool dashed = s.points[i - 1].illustrative || s.points[i].illustrative;
    std::size_t j = i;
    while (j + 1 < s.points.size() && (s.points[j].illustrative || s.points[j + 1].illustrative) == dashed) ++j;
    o << "<polyline class=\"line " << panel << "\" fill=\"none\" stroke=\"" << (dashed ? kGrey : s.colour) << "\" stroke-width=\""
      << width(s) << "\"" << dashing(s.cold, dashed) << " points=\"";
    for (std::size_t k = i - 1; k <= j; ++k) o << (k >= i ? " " : "") << num(p.px(s.points[k].batch)) << "," << num(p.py(value(s.points[k])));
    o << "\"/>\n";
    i = j + 1;
  }
  for (const Point& pt : s.points) {
    const std::string c = pt.illustrative ? kGrey : s.colour;
    o << "<circle class=\"marker " << panel << "\" cx=\"" << num(p.px(pt.batch)) << "\" cy=\"" << num(p.py(value(pt)))
      << "\" r=\"3.5\" fill=\"" << (pt.illustrative ? "#ffffff" : c) << "\" stroke=\"" << c << "\" stroke-width=\"1.5\"><title>"
      << esc(joined(s.files, ", ")) << " " << s.device << " batch " << pt.batch << (s.cold ? " cold" : "") << ": " << label(pt)
      << (pt.source.empty() ? "" : " (" + esc(pt.source) + (pt.from.empty() ? "" : ", " + esc(pt.from)) + ")") << "</title></circle>\n";
  }
  if (!s.points.empty() && s.all(&Point::illustrative)) {
    const Point& last = s.points.back();
    o << "<text class=\"direct-label\" x=\"" << num(p.px(last.batch) - 6) << "\" y=\"" << num(p.py(value(last)) - 8)
      << "\" text-anchor=\"end\" " << kFont << " font-size=\"11\" fill=\"#666\">" << s.device << (s.cold ? " cold" : "")
      << " illustrative</text>\n";
  }
}

// The legend's name of a series: its files, device, and where its numbers come from unless measured here, e.g.
// "run.json -- GPU from results/reference.json (illustrative, not measured)" (an em dash).
std::string legend_name(const Series& s) {
  std::string name = joined(s.files, ", ") + " \xE2\x80\x94 " + s.device + (s.cold ? " cold" : "");
  if (s.all(&Point::reference)) {
    std::set<std::string> from, sources;
    for (const Point& p : s.points) from.insert(p.from), sources.insert(p.source);
    const std::string how = s.all(&Point::illustrative) ? "illustrative, not measured"
                            : s.any(&Point::illustrative) ? "partly illustrative, not measured"
                            : sources.size() == 1         ? *sources.begin()
                                                          : "measured elsewhere";
    return name + (from.size() == 1 && !from.begin()->empty() ? " from " + *from.begin() : "") + " (" + how + ")";
  }
  if (s.any(&Point::illustrative)) return name + " (partly illustrative, not measured)";
  if (s.any(&Point::reference)) return name + " (partly measured elsewhere)";
  return name;
}

// The note under the title for a series with illustrative cells: "GPU: illustrative values from
// results/reference.json, not measurements: no verdict" (its files named when the chart has several; the batch
// sizes when only some of its cells are illustrative).
std::string illustrative_note(const Series& s, bool name_files) {
  std::vector<std::string> at;
  std::set<std::string> from;
  for (const Point& p : s.points) {
    if (!p.illustrative) continue;
    at.push_back(std::to_string(p.batch));
    from.insert(p.from.empty() ? "a reference table" : p.from);
  }
  const bool some = at.size() < s.points.size();
  return s.device + (s.cold ? " cold" : "") + (name_files ? " (" + joined(s.files, ", ") + ")" : "") +
         (some ? " at batch " + joined(at, ", ") : "") + ": illustrative values from " + joined(from, " and ") +
         ", not measurements: no verdict" + (some ? " at those batch sizes" : "");
}

// ---- the batch-size panels ----

// One device's cells of one table as a series (nullopt without a point); emulated cells, which hold no time, are
// named in `emulated` instead.
std::optional<Series> series_of(const Table& table, const char* device, const std::string& label, std::size_t fi, bool name_file,
                                std::vector<std::string>& emulated) {
  const auto d = table.cells.find(device);
  if (d == table.cells.end()) return std::nullopt;
  Series s{{label}, device, fi, is_cold(table), {}, ""};
  std::vector<std::string> emulated_at;
  bool emulated_cold = false;
  for (const auto& [batch, cell] : d->second) {  // std::map: ascending batch
    if (cell.source == Source::Emulated) {
      emulated_at.push_back(std::to_string(batch));
      emulated_cold = cell.cache == CacheMode::Cold;
      continue;
    }
    const double ms = cell.median_ms();
    const bool reference = cell.source == Source::Reference;
    if (batch > 0 && ms > 0 && std::isfinite(ms))
      s.points.push_back({batch, ms, reference, !is_measurement(cell), reference ? cell.reference_file : "", source_of(cell)});
  }
  if (!emulated_at.empty()) {
    emulated.push_back(std::string(device) + (emulated_cold ? " cold" : "") + (name_file ? " of " + label : "") + " at batch " +
                       joined(emulated_at, ", ") + ": emulated on a CUDA emulator, not timed, not drawn");
  }
  if (s.points.empty()) return std::nullopt;
  return s;
}

// Every file's series, a reference column several files share drawn once (naming them all), each in its colour.
std::vector<Series> collect_series(const std::vector<std::pair<std::string, Results>>& files, std::vector<std::string>& emulated) {
  std::vector<Series> series;
  for (std::size_t fi = 0; fi < files.size(); ++fi) {
    for (const Table* table : tables_of(files[fi].second)) {
      for (const char* device : kDevices) {
        std::optional<Series> s = series_of(*table, device, files[fi].first, fi, files.size() > 1, emulated);
        if (!s) continue;
        const auto same = std::find_if(series.begin(), series.end(), [&](const Series& x) {
          return s->all(&Point::reference) && x.device == s->device && x.cold == s->cold && x.points == s->points;
        });
        if (same != series.end()) same->files.push_back(s->files.front());
        else series.push_back(std::move(*s));
      }
    }
  }
  for (Series& s : series) {  // a cold series takes its hot one's colour
    // Indexing each array on its own: GCC 12 under -fsanitize=undefined -O2 made `(gpu ? kGpu : kCpu)[k]` read
    // index 0 for the CPU (Plot.SeriesOfTwoFilesHaveColoursFarApartInHue caught it in the asan preset).
    const std::size_t k = s.file_index % 3;
    s.colour = s.all(&Point::illustrative) ? kGrey : s.device == "GPU" ? kGpuColours[k] : kCpuColours[k];
  }
  return series;
}

// The two panels side by side on whole decades around the data, from `top`.
std::pair<Panel, Panel> batch_panels(const std::vector<Series>& series, double top, double height) {
  double b0 = 1e300, b1 = 0, l0 = 1e300, l1 = 0, t0 = 1e300, t1 = 0;
  for (const Series& s : series) {
    for (const Point& p : s.points) {
      b0 = std::min(b0, double(p.batch)), b1 = std::max(b1, double(p.batch));
      l0 = std::min(l0, p.ms), l1 = std::max(l1, p.ms);
      t0 = std::min(t0, p.per_s()), t1 = std::max(t1, p.per_s());
    }
  }
  return {Panel{90, top, 380, height, LogAxis(b0, b1), LogAxis(l0, l1)}, Panel{600, top, 380, height, LogAxis(b0, b1), LogAxis(t0, t1)}};
}

// The document's opening, its title, the subtitle (model, what the line styles mean) and the notes on what decides
// nothing, each on its own line under the title.
void draw_header(std::ostream& o, const std::vector<std::pair<std::string, Results>>& files, const std::vector<Series>& series,
                 const std::vector<std::string>& notes, bool illustrative, double W, double H) {
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
  std::vector<std::string> subtitle;
  if (!model.empty() && model != "various") subtitle.push_back("model " + model);
  if (illustrative) subtitle.push_back("grey dashed lines and hollow markers: illustrative values, not measured");
  if (std::any_of(series.begin(), series.end(), [](const Series& x) { return x.cold; }))
    subtitle.push_back("dotted: cold, the caches evicted before each forward");
  if (!subtitle.empty())
    o << "<text x=\"" << num(W / 2) << "\" y=\"44\" text-anchor=\"middle\" " << kFont << " font-size=\"12\" fill=\"#555\">"
      << esc(joined(subtitle, "; ")) << "</text>\n";
  // What decides nothing, said under the title: larger and bolder than a crossover's text.
  for (std::size_t i = 0; i < notes.size(); ++i)
    o << "<text class=\"note\" x=\"" << num(W / 2) << "\" y=\"" << num(64 + kNoteRow * static_cast<double>(i))
      << "\" text-anchor=\"middle\" " << kFont << " font-size=\"13\" font-weight=\"bold\" fill=\"#222\">" << esc(notes[i]) << "</text>\n";
}

// Each file's crossover (from measurements only) as a dashed vertical line on the latency panel.
void draw_crossovers(std::ostream& o, const std::vector<std::pair<std::string, Results>>& files, const Panel& lat) {
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
}

// A legend entry: a short line in the series' style, a marker (hollow when `hollow`), the name.
void draw_legend_entry(std::ostream& o, double x, double y, const std::string& colour, double stroke, const std::string& dash, bool hollow,
                       const std::string& name) {
  o << "<line x1=\"" << num(x) << "\" y1=\"" << num(y) << "\" x2=\"" << num(x + 40) << "\" y2=\"" << num(y) << "\" stroke=\"" << colour
    << "\" stroke-width=\"" << stroke << "\"" << dash << "/>\n<circle cx=\"" << num(x + 20) << "\" cy=\"" << num(y) << "\" r=\"3.5\" fill=\""
    << (hollow ? "#ffffff" : colour) << "\" stroke=\"" << colour << "\" stroke-width=\"1.5\"/>\n<text x=\"" << num(x + 50) << "\" y=\""
    << num(y + 4) << "\" " << kFont << " font-size=\"12\">" << esc(name) << "</text>\n";
}

// Every series on both panels, and the legend below them from legend_top.
void draw_all_series(std::ostream& o, const std::vector<Series>& series, const Panel& lat, const Panel& thr, double legend_top) {
  std::ostringstream legend;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    const std::string name = legend_name(s), file = joined(s.files, ", ");
    const bool grey = s.all(&Point::illustrative);
    o << "<g class=\"series\" data-file=\"" << esc(file) << "\" data-device=\"" << s.device << "\" data-cache=\"" << (s.cold ? "cold" : "hot")
      << "\" data-reference=\"" << (s.all(&Point::reference) ? "true" : "false") << "\" data-illustrative=\""
      << (grey ? "true" : s.any(&Point::illustrative) ? "partly" : "false") << "\">\n<title>" << esc(name) << "</title>\n";
    draw_series(o, lat, s, true);
    draw_series(o, thr, s, false);
    o << "</g>\n";
    legend << "<g class=\"legend-entry\" data-file=\"" << esc(file) << "\" data-device=\"" << s.device << "\" data-cache=\""
           << (s.cold ? "cold" : "hot") << "\">\n";
    draw_legend_entry(legend, lat.x, legend_top + kLegendRow * static_cast<double>(i), s.colour, width(s), dashing(s.cold, grey), grey, name);
    legend << "</g>\n";
  }
  o << "<g class=\"legend\">\n" << legend.str() << "</g>\n";
}

// ---- under load: p99 latency against achieved rate (`mlpbench serve`), Triton's curve ----

struct LoadPoint {
  double qps = 0, p99_ms = 0;  // achieved rate, p99 latency
  double offered = 0;
  bool met = false;            // the step met the bound: a filled marker
};

struct LoadSeries {
  std::string file, device, run;  // run: "<backend> [<config>]"
  std::string source, from;       // "measured" or "simulated" (dashed), and where from
  std::size_t file_index = 0;
  std::vector<LoadPoint> points;  // in order of offered rate
  std::string colour;
};

// One series per serving run of every file, in the device's colours (each run of a device its own).
std::vector<LoadSeries> collect_load_series(const std::vector<std::pair<std::string, Results>>& files) {
  std::vector<LoadSeries> out;
  for (std::size_t fi = 0; fi < files.size(); ++fi) {
    if (!files[fi].second.serving) continue;
    std::size_t cpu = 0, gpu = 0;
    for (const ServingRun& r : files[fi].second.serving->runs) {
      LoadSeries s{files[fi].first, r.device, r.backend + (r.config.empty() ? "" : " [" + r.config + "]"), r.source, r.simulated_from, fi, {}, ""};
      for (const StepResult& st : r.search.steps) {
        if (st.achieved_qps > 0 && st.p99_ms > 0) s.points.push_back({st.achieved_qps, st.p99_ms, st.offered_qps, st.meets(r.search.config.slo_ms)});
      }
      std::sort(s.points.begin(), s.points.end(), [](const LoadPoint& a, const LoadPoint& b) { return a.offered < b.offered; });
      const std::size_t k = (fi + (r.device == "GPU" ? gpu++ : cpu++)) % 3;
      s.colour = r.device == "GPU" ? kGpuColours[k] : kCpuColours[k];
      if (!s.points.empty()) out.push_back(std::move(s));
    }
  }
  return out;
}

// The bounds of the files' serving sections (usually one), ascending.
std::vector<double> load_bounds(const std::vector<std::pair<std::string, Results>>& files) {
  std::set<double> bounds;
  for (const auto& f : files) {
    if (f.second.serving) bounds.insert(f.second.serving->config.slo_ms);
  }
  return {bounds.begin(), bounds.end()};
}

// The panel over the data and the bounds, from `top`.
Panel load_panel(const std::vector<LoadSeries>& series, const std::vector<double>& bounds, double top) {
  double q0 = 1e300, q1 = 0, l0 = 1e300, l1 = 0;
  for (const LoadSeries& s : series) {
    for (const LoadPoint& p : s.points) q0 = std::min(q0, p.qps), q1 = std::max(q1, p.qps), l0 = std::min(l0, p.p99_ms), l1 = std::max(l1, p.p99_ms);
  }
  for (double b : bounds) l0 = std::min(l0, b), l1 = std::max(l1, b);
  return Panel{90, top, 890, kLoadHeight, LogAxis(q0, q1), LogAxis(l0, l1)};
}

std::string load_label(const LoadSeries& s, bool name_file) {
  return (name_file ? s.file + " \xE2\x80\x94 " : "") + s.device + " " + s.run + (s.source == "measured" ? "" : " (simulated from " + s.from + ")");
}

// One run's curve: a polyline through its steps (dashed when simulated), a marker per step, filled where it met the bound.
void draw_load_series(std::ostream& o, const Panel& p, const LoadSeries& s, bool name_file) {
  const bool simulated = s.source != "measured";
  o << "<g class=\"serving-series\" data-file=\"" << esc(s.file) << "\" data-device=\"" << s.device << "\" data-run=\"" << esc(s.run)
    << "\" data-source=\"" << esc(s.source) << "\">\n<title>" << esc(load_label(s, name_file)) << "</title>\n";
  o << "<polyline class=\"line serving\" fill=\"none\" stroke=\"" << s.colour << "\" stroke-width=\"2\"" << dashing(false, simulated) << " points=\"";
  for (std::size_t i = 0; i < s.points.size(); ++i) o << (i ? " " : "") << num(p.px(s.points[i].qps)) << "," << num(p.py(s.points[i].p99_ms));
  o << "\"/>\n";
  for (const LoadPoint& pt : s.points) {
    char rate[48];
    std::snprintf(rate, sizeof rate, "%.4g", pt.qps);
    o << "<circle class=\"marker serving\" cx=\"" << num(p.px(pt.qps)) << "\" cy=\"" << num(p.py(pt.p99_ms)) << "\" r=\"3.5\" fill=\""
      << (pt.met ? s.colour : "#ffffff") << "\" stroke=\"" << s.colour << "\" stroke-width=\"1.5\"><title>" << esc(load_label(s, name_file)) << ": "
      << rate << " requests/s achieved, p99 " << format_ms(pt.p99_ms) << " ms" << (pt.met ? "" : " (missed the bound)") << "</title></circle>\n";
  }
  o << "</g>\n";
}

// The bound as a horizontal line across the panel, labelled at its right end.
void draw_bound(std::ostream& o, const Panel& p, double slo_ms) {
  const double y = p.py(slo_ms);
  o << "<g class=\"bound\" data-slo-ms=\"" << format_ms(slo_ms) << "\">\n<line x1=\"" << num(p.x) << "\" y1=\"" << num(y) << "\" x2=\""
    << num(p.x + p.w) << "\" y2=\"" << num(y) << "\" stroke=\"#b00000\" stroke-width=\"1.5\" stroke-dasharray=\"8 4\"/>\n<text x=\""
    << num(p.x + p.w - 6) << "\" y=\"" << num(y - 6) << "\" text-anchor=\"end\" " << kFont << " font-size=\"11\" fill=\"#b00000\">p99 bound "
    << format_ms(slo_ms) << " ms</text>\n</g>\n";
}

// The serving panel from `top` (its title above it) and its legend below: p99 latency against achieved rate per run, the
// bounds as lines; nothing without serving runs. load_height says how tall.
void draw_load(std::ostream& o, const std::vector<std::pair<std::string, Results>>& files, double top) {
  const std::vector<LoadSeries> series = collect_load_series(files);
  if (series.empty()) return;
  const std::vector<double> bounds = load_bounds(files);
  const Panel p = load_panel(series, bounds, top + 30);
  draw_axes(o, p, "Under load: p99 latency against achieved rate (filled: met the bound; dashed: simulated, not measured)", "p99 latency (ms)",
            "achieved rate (requests/s)");
  for (double b : bounds) draw_bound(o, p, b);
  const bool name_file = files.size() > 1;
  for (const LoadSeries& s : series) draw_load_series(o, p, s, name_file);
  o << "<g class=\"serving-legend\">\n";
  for (std::size_t i = 0; i < series.size(); ++i) {
    o << "<g class=\"serving-legend-entry\" data-device=\"" << series[i].device << "\" data-run=\"" << esc(series[i].run) << "\">\n";
    draw_legend_entry(o, p.x, p.y + p.h + 72 + kLegendRow * static_cast<double>(i), series[i].colour, 2, dashing(false, series[i].source != "measured"),
                      false, load_label(series[i], name_file));
    o << "</g>\n";
  }
  o << "</g>\n";
}

// The height draw_load will take (0 without serving runs).
double load_height(const std::vector<std::pair<std::string, Results>>& files) {
  const std::size_t n = collect_load_series(files).size();
  return n == 0 ? 0 : 30 + kLoadHeight + 72 + kLegendRow * static_cast<double>(n);
}

}  // namespace

std::string plot_svg(const std::vector<std::pair<std::string, Results>>& files) {
  std::vector<std::string> emulated;  // a note per column with emulated cells: they hold no time, so no point
  const std::vector<Series> series = collect_series(files, emulated);
  if (series.empty()) throw InputError("plot: no results file has a cell to draw");
  std::vector<std::string> notes;
  for (const Series& s : series)
    if (s.any(&Point::illustrative)) notes.push_back(illustrative_note(s, files.size() > 1));
  const bool illustrative = !notes.empty();
  notes.insert(notes.end(), emulated.begin(), emulated.end());

  const double W = 1000, top = 80 + kNoteRow * static_cast<double>(notes.size()), ph = 320, legend_top = top + ph + 72;
  const auto [lat, thr] = batch_panels(series, top, ph);
  const double load_top = legend_top + kLegendRow * static_cast<double>(series.size()) + 12;
  const double H = load_top + load_height(files);

  std::ostringstream o;
  draw_header(o, files, series, notes, illustrative, W, H);
  draw_axes(o, lat, "Latency", "latency per forward (ms)");
  draw_axes(o, thr, "Throughput", "throughput (inferences/s)");
  draw_crossovers(o, files, lat);  // first, so the lines are drawn over them
  draw_all_series(o, series, lat, thr, legend_top);
  draw_load(o, files, load_top);
  o << "</svg>\n";
  return o.str();
}

}  // namespace mlpbench
