// The SVG chart: a well-formed XML document (parsed with expat) with one series group per file and device,
// illustrative series grey, dashed and labelled with a note as prominent as a crossover, promoted (measured
// elsewhere) series drawn as data, a reference column shared by several files drawn once, colour-blind-safe
// colours far apart in hue, mixed series dashed only where an illustrative cell is, axis titles with units and
// decade ticks, a crossover marker exactly when the measured cells cross, escaped labels, and InputError when
// there is nothing to draw.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <expat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "mlpbench/errors.hpp"
#include "mlpbench/plot.hpp"
#include "mlpbench/results.hpp"
#include "mlpbench/table.hpp"
#include "test_util.hpp"

using namespace mlpbench;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

// A minimal DOM: element name, attributes, text directly inside, children.
struct Node {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::string text;
  std::vector<std::unique_ptr<Node>> children;
  Node* parent = nullptr;

  std::string attr(const std::string& key) const {
    const auto it = attrs.find(key);
    return it == attrs.end() ? "" : it->second;
  }
  bool has_class(const std::string& c) const {
    const std::string cls = " " + attr("class") + " ";
    return cls.find(" " + c + " ") != std::string::npos;
  }
  // Every element below (and including) this one that matches.
  std::vector<const Node*> all(const std::function<bool(const Node&)>& match) const {
    std::vector<const Node*> out;
    if (match(*this)) out.push_back(this);
    for (const auto& c : children) {
      auto sub = c->all(match);
      out.insert(out.end(), sub.begin(), sub.end());
    }
    return out;
  }
  std::vector<const Node*> with_class(const std::string& c) const {
    return all([&](const Node& n) { return n.has_class(c); });
  }
  std::vector<const Node*> named(const std::string& name) const {
    return all([&](const Node& n) { return n.name == name; });
  }
  // The text of this element and everything inside it.
  std::string all_text() const {
    std::string t = text;
    for (const auto& c : children) t += c->all_text();
    return t;
  }
};

struct Parsed {
  std::unique_ptr<Node> root;
  std::string error;  // empty when well-formed
};

// Parses with expat; an error names the line and what expat says.
Parsed parse_xml(const std::string& xml) {
  Parsed p;
  Node* current = nullptr;
  struct State {
    Parsed* p;
    Node** current;
  } state{&p, &current};
  XML_Parser parser = XML_ParserCreate("UTF-8");
  XML_SetUserData(parser, &state);
  XML_SetElementHandler(
      parser,
      [](void* data, const XML_Char* name, const XML_Char** atts) {
        auto* s = static_cast<State*>(data);
        auto node = std::make_unique<Node>();
        node->name = name;
        for (int i = 0; atts[i]; i += 2) node->attrs[atts[i]] = atts[i + 1];
        Node* raw = node.get();
        if (!*s->current) {
          s->p->root = std::move(node);
        } else {
          raw->parent = *s->current;
          (*s->current)->children.push_back(std::move(node));
        }
        *s->current = raw;
      },
      [](void* data, const XML_Char*) {
        auto* s = static_cast<State*>(data);
        *s->current = (*s->current)->parent;
      });
  XML_SetCharacterDataHandler(parser, [](void* data, const XML_Char* text, int len) {
    auto* s = static_cast<State*>(data);
    if (*s->current) (*s->current)->text.append(text, static_cast<std::size_t>(len));
  });
  if (XML_Parse(parser, xml.data(), static_cast<int>(xml.size()), 1) == XML_STATUS_ERROR) {
    p.error = "line " + std::to_string(XML_GetCurrentLineNumber(parser)) + ": " + XML_ErrorString(XML_GetErrorCode(parser));
  }
  XML_ParserFree(parser);
  return p;
}

Cell cell(double ms, Source source) {
  Cell c;
  c.source = source;
  c.backend = source == Source::Reference ? "illustrative" : "eigen";
  c.stats.median_ms = ms;
  if (source == Source::Reference) c.reference_file = "results/reference.json";
  return c;
}

// CPU and GPU columns at the given batch sizes.
Results results(const std::vector<std::pair<int, double>>& cpu, Source cpu_source, const std::vector<std::pair<int, double>>& gpu,
                Source gpu_source) {
  Results r;
  r.model.layers = {784, 512, 512, 10};
  for (const auto& [b, ms] : cpu) r.table.set("CPU", b, cell(ms, cpu_source));
  for (const auto& [b, ms] : gpu) r.table.set("GPU", b, cell(ms, gpu_source));
  return r;
}

// CPU measured, GPU from the reference (as on a machine without a GPU); the CPU is faster throughout.
Results cpu_measured_gpu_reference() {
  return results({{1, 0.05}, {10, 0.2}, {100, 1.5}}, Source::Measured, {{1, 30}, {10, 100}, {100, 800}}, Source::Reference);
}

// Both measured; the CPU is faster at 1 and 10, the GPU at 100 and 1000.
Results crossing() {
  return results({{1, 0.1}, {10, 1}, {100, 10}, {1000, 100}}, Source::Measured, {{1, 1}, {10, 1.5}, {100, 2}, {1000, 5}},
                 Source::Measured);
}

Parsed plot(const std::vector<std::pair<std::string, Results>>& files) {
  Parsed p = parse_xml(plot_svg(files));
  EXPECT_EQ(p.error, "");
  EXPECT_TRUE(p.root);
  return p;
}

std::vector<std::string> texts(const Node& root) {
  std::vector<std::string> out;
  for (const Node* t : root.named("text")) out.push_back(t->all_text());
  return out;
}

std::vector<std::string> legend_texts(const Node& root) {
  std::vector<std::string> out;
  for (const Node* e : root.with_class("legend-entry")) out.push_back(e->all_text());
  return out;
}

// A reference cell measured elsewhere and promoted (mlpbench reference --from).
Cell promoted(double ms) {
  Cell c = cell(ms, Source::Reference);
  c.backend = "cublaslt";
  c.provenance = {"measured", "NVIDIA H200", "0123456789ab", "2026-11-29T10:00:00Z"};
  return c;
}

// The series group of this device (the only one, or the test fails).
const Node& series_of(const Node& root, const std::string& device) {
  std::vector<const Node*> found;
  for (const Node* s : root.with_class("series"))
    if (s->attr("data-device") == device) found.push_back(s);
  EXPECT_EQ(found.size(), 1u) << device;
  return *found.at(0);
}

// Red, green, blue of "#rrggbb" in 0..1; the hue in degrees (0..360) and the saturation (max - min) of it.
struct Rgb {
  double r = 0, g = 0, b = 0;
  explicit Rgb(const std::string& hex) {
    EXPECT_EQ(hex.size(), 7u) << hex;
    const long v = std::strtol(hex.c_str() + 1, nullptr, 16);
    r = ((v >> 16) & 255) / 255.0, g = ((v >> 8) & 255) / 255.0, b = (v & 255) / 255.0;
  }
  double chroma() const { return std::max({r, g, b}) - std::min({r, g, b}); }
  double hue() const {
    const double mx = std::max({r, g, b}), c = chroma();
    if (c == 0) return 0;
    const double h = mx == r ? std::fmod((g - b) / c + 6, 6) : mx == g ? (b - r) / c + 2 : (r - g) / c + 4;
    return 60 * h;
  }
};
bool is_grey(const std::string& hex) { return Rgb(hex).chroma() < 0.05; }

}  // namespace

TEST(Plot, IsAStandaloneSvgDocument) {
  const std::string svg = plot_svg({{"run.json", cpu_measured_gpu_reference()}});
  const Parsed p = parse_xml(svg);
  ASSERT_EQ(p.error, "") << svg;
  ASSERT_TRUE(p.root);
  EXPECT_EQ(p.root->name, "svg");
  EXPECT_EQ(p.root->attr("xmlns"), "http://www.w3.org/2000/svg");
  EXPECT_EQ(p.root->attr("version"), "1.1");
  EXPECT_NE(p.root->attr("viewBox"), "");
  EXPECT_NE(p.root->attr("width"), "");
  EXPECT_NE(p.root->attr("height"), "");
  // Nothing fetched from elsewhere: no scripts, style sheets, images, links or web fonts.
  for (const char* name : {"script", "style", "image", "a", "foreignObject"}) EXPECT_TRUE(p.root->named(name).empty()) << name;
  EXPECT_THAT(svg, Not(HasSubstr("href")));
  EXPECT_THAT(svg, Not(HasSubstr("@import")));
  EXPECT_THAT(svg, Not(HasSubstr("url(")));
}

TEST(Plot, OneFileCpuMeasuredGpuReferenceHasTwoSeriesTheReferenceOneDashed) {
  const Parsed p = plot({{"run.json", cpu_measured_gpu_reference()}});
  const auto series = p.root->with_class("series");
  ASSERT_EQ(series.size(), 2u);
  std::map<std::string, const Node*> by_device;
  for (const Node* s : series) by_device[s->attr("data-device")] = s;
  ASSERT_TRUE(by_device.count("CPU") && by_device.count("GPU"));
  const Node& cpu = *by_device["CPU"];
  const Node& gpu = *by_device["GPU"];
  EXPECT_EQ(cpu.attr("data-reference"), "false");
  EXPECT_EQ(gpu.attr("data-reference"), "true");
  EXPECT_EQ(cpu.attr("data-file"), "run.json");

  // One polyline per panel; the reference one dashed, the measured one solid.
  for (const Node* s : {&cpu, &gpu}) {
    const auto lines = s->named("polyline");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(s->with_class("latency").size(), 1u + 3u);  // the line and a marker per batch size
    EXPECT_EQ(s->with_class("marker").size(), 6u);
    EXPECT_EQ(s->named("circle").size(), 6u);
    for (const Node* l : lines) EXPECT_EQ(l->attr("stroke-dasharray").empty(), s == &cpu) << s->attr("data-device");
  }
  // CPU and GPU differ in colour.
  EXPECT_NE(cpu.named("polyline")[0]->attr("stroke"), gpu.named("polyline")[0]->attr("stroke"));

  // The legend lists both, the reference one saying so.
  const auto entries = p.root->with_class("legend-entry");
  ASSERT_EQ(entries.size(), 2u);
  std::vector<std::string> legend;
  for (const Node* e : entries) legend.push_back(e->all_text());
  EXPECT_THAT(legend, Contains(HasSubstr("run.json")).Times(2));
  EXPECT_THAT(legend, Contains(AllOf(HasSubstr("GPU"), HasSubstr("illustrative, not measured"))));
  EXPECT_THAT(legend, Contains(AllOf(HasSubstr("CPU"), Not(HasSubstr("reference")))));
}

TEST(Plot, TwoFilesGiveFourSeriesTellingTheFilesApart) {
  const Parsed p = plot({{"old.json", cpu_measured_gpu_reference()}, {"new.json", crossing()}});
  const auto series = p.root->with_class("series");
  ASSERT_EQ(series.size(), 4u);
  std::map<std::string, int> per_file;
  std::map<std::string, std::string> width;  // file -> stroke width of its CPU line
  for (const Node* s : series) {
    ++per_file[s->attr("data-file")];
    if (s->attr("data-device") == "CPU") width[s->attr("data-file")] = s->named("polyline")[0]->attr("stroke-width");
  }
  EXPECT_EQ(per_file, (std::map<std::string, int>{{"new.json", 2}, {"old.json", 2}}));
  EXPECT_NE(width["old.json"], width["new.json"]);
  EXPECT_EQ(p.root->with_class("legend-entry").size(), 4u);
  // new.json's GPU is measured, old.json's is not.
  for (const Node* s : series) {
    EXPECT_EQ(s->attr("data-reference"), s->attr("data-file") == "old.json" && s->attr("data-device") == "GPU" ? "true" : "false");
  }
}

TEST(Plot, MixedSeriesIsDashedOnlyWhereAReferenceCellIs) {
  Results r = crossing();
  r.table.set("CPU", 1, cell(0.1, Source::Reference));  // the segment 1-10 touches a reference cell; 10-100-1000 do not
  const Parsed p = plot({{"mixed.json", r}});
  for (const Node* s : p.root->with_class("series")) {
    if (s->attr("data-device") != "CPU") continue;
    EXPECT_EQ(s->attr("data-reference"), "false");
    const auto lines = s->with_class("latency");
    std::vector<std::string> dashes;
    for (const Node* l : lines)
      if (l->name == "polyline") dashes.push_back(l->attr("stroke-dasharray"));
    ASSERT_EQ(dashes.size(), 2u);
    EXPECT_NE(dashes[0], "");  // 1 -> 10
    EXPECT_EQ(dashes[1], "");  // 10 -> 100 -> 1000
  }
  EXPECT_THAT(texts(*p.root), Contains(HasSubstr("(partly illustrative, not measured)")));
}

TEST(Plot, AxisTitlesWithUnitsAndDecadeTicks) {
  const Parsed p = plot({{"x.json", crossing()}});
  const auto t = texts(*p.root);
  EXPECT_THAT(t, Contains("batch size (rows)").Times(2));
  EXPECT_THAT(t, Contains("latency per forward (ms)"));
  EXPECT_THAT(t, Contains("throughput (inferences/s)"));
  // Batch 1..1000, latency 0.1..100 ms, throughput 1000 (GPU: 1 / 1 ms) .. 2e5 (GPU: 1000 / 5 ms) inferences/s.
  std::vector<std::string> ticks;
  for (const Node* n : p.root->with_class("tick")) ticks.push_back(n->all_text());
  for (const char* want : {"1", "10", "100", "1000", "0.1", "10k", "100k", "1M"}) EXPECT_THAT(ticks, Contains(want)) << want;
  EXPECT_THAT(ticks, Not(Contains("0.01")));
  EXPECT_THAT(ticks, Not(Contains("10M")));
}

TEST(Plot, CrossoverMarkedWhenTheTableCrosses) {
  const Results r = crossing();
  const Crossover x = crossover(r.table);
  ASSERT_TRUE(x.batch) << x.how;
  const Parsed p = plot({{"x.json", r}});
  const auto marks = p.root->with_class("crossover");
  ASSERT_EQ(marks.size(), 1u);
  EXPECT_EQ(marks[0]->named("line").size(), 1u);
  EXPECT_NE(marks[0]->named("line")[0]->attr("stroke-dasharray"), "");
  EXPECT_THAT(marks[0]->all_text(), HasSubstr("crossover ~" + std::to_string(*x.batch)));
}

TEST(Plot, NoCrossoverMarkWhenTheLinesDoNotCross) {
  const Results r = cpu_measured_gpu_reference();
  ASSERT_FALSE(crossover(r.table).batch);
  const Parsed p = plot({{"x.json", r}});
  EXPECT_TRUE(p.root->with_class("crossover").empty());
  EXPECT_THAT(texts(*p.root), Not(Contains(HasSubstr("crossover"))));
}

TEST(Plot, OneCrossoverPerFileThatCrosses) {
  const Parsed p = plot({{"a.json", crossing()}, {"b.json", cpu_measured_gpu_reference()}, {"c.json", crossing()}});
  std::vector<std::string> files;
  for (const Node* m : p.root->with_class("crossover")) files.push_back(m->attr("data-file"));
  EXPECT_EQ(files, (std::vector<std::string>{"a.json", "c.json"}));
}

TEST(Plot, EscapesFileLabels) {
  const std::string label = "runs/a&b <new> \"x\" 'y'.json";
  const std::string svg = plot_svg({{label, crossing()}, {"plain.json", cpu_measured_gpu_reference()}});
  EXPECT_THAT(svg, Not(HasSubstr("a&b")));
  EXPECT_THAT(svg, Not(HasSubstr("<new>")));
  const Parsed p = parse_xml(svg);
  ASSERT_EQ(p.error, "") << svg;
  int found = 0;
  for (const Node* s : p.root->with_class("series")) found += s->attr("data-file") == label;
  EXPECT_EQ(found, 2);
  EXPECT_EQ(p.root->with_class("crossover").at(0)->attr("data-file"), label);
  EXPECT_THAT(texts(*p.root), Contains(HasSubstr(label)));
}

TEST(Plot, NothingToDrawIsAnInputError) {
  EXPECT_THROW(plot_svg({}), InputError);
  EXPECT_THROW(plot_svg({{"empty.json", Results{}}}), InputError);
  // A file with cells beside an empty one still plots.
  const Parsed p = plot({{"empty.json", Results{}}, {"x.json", crossing()}});
  EXPECT_EQ(p.root->with_class("series").size(), 2u);
}

TEST(Plot, SingleBatchSizeDrawsMarkersWithoutLines) {
  const Parsed p = plot({{"one.json", results({{10, 1}}, Source::Measured, {}, Source::Measured)}});
  const auto series = p.root->with_class("series");
  ASSERT_EQ(series.size(), 1u);
  EXPECT_TRUE(series[0]->named("polyline").empty());
  EXPECT_EQ(series[0]->named("circle").size(), 2u);
}

TEST(Plot, ColdCellsAreSeriesOfTheirOwnDrawnDottedWithTheirOwnCrossover) {
  Results r = crossing();
  r.cold = r.table;  // the same times, measured cold: only the cache mode tells the series apart
  for (auto& [device, per_batch] : r.cold->cells) {
    for (auto& [batch, c] : per_batch) c.cache = CacheMode::Cold;
  }
  const Parsed p = plot({{"x.json", r}});
  std::map<std::string, std::string> dash;  // "CPU hot" -> the polylines' stroke-dasharray
  for (const Node* s : p.root->with_class("series")) {
    for (const Node* l : s->named("polyline")) dash[s->attr("data-device") + " " + s->attr("data-cache")] = l->attr("stroke-dasharray");
  }
  EXPECT_EQ(dash, (std::map<std::string, std::string>{{"CPU hot", ""}, {"GPU hot", ""}, {"CPU cold", "2 3"}, {"GPU cold", "2 3"}}));
  std::vector<std::string> legend;
  for (const Node* e : p.root->with_class("legend-entry")) legend.push_back(e->all_text());
  EXPECT_THAT(legend, Contains(HasSubstr("CPU cold")));
  std::vector<std::string> marks;
  for (const Node* m : p.root->with_class("crossover")) marks.push_back(m->attr("data-cache"));
  EXPECT_EQ(marks, (std::vector<std::string>{"hot", "cold"}));
  EXPECT_THAT(texts(*p.root), Contains(HasSubstr("cold crossover ~")));
}

TEST(Plot, IllustrativeSeriesIsGreyDashedHollowAndLabelledWithANoteAsProminentAsACrossover) {
  const Parsed p = plot({{"run.json", cpu_measured_gpu_reference()}});
  const Node& gpu = series_of(*p.root, "GPU");
  EXPECT_EQ(gpu.attr("data-illustrative"), "true");
  ASSERT_EQ(gpu.named("polyline").size(), 2u);
  for (const Node* l : gpu.named("polyline")) {
    EXPECT_NE(l->attr("stroke-dasharray"), "");
    EXPECT_TRUE(is_grey(l->attr("stroke"))) << l->attr("stroke");
  }
  for (const Node* m : gpu.with_class("marker")) {
    EXPECT_EQ(m->attr("fill"), "#ffffff");
    EXPECT_TRUE(is_grey(m->attr("stroke"))) << m->attr("stroke");
    EXPECT_THAT(m->all_text(), HasSubstr("illustrative, not measured"));
  }
  // The measured CPU keeps a data colour.
  const Node& cpu = series_of(*p.root, "CPU");
  EXPECT_EQ(cpu.attr("data-illustrative"), "false");
  EXPECT_FALSE(is_grey(cpu.named("polyline").at(0)->attr("stroke")));
  EXPECT_THAT(legend_texts(*p.root), Contains(AllOf(HasSubstr("GPU"), HasSubstr("results/reference.json"), HasSubstr("illustrative, not measured"))));

  // One note, under the title, bold and larger than a crossover's text.
  const auto notes = p.root->with_class("note");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0]->all_text(), "GPU: illustrative values from results/reference.json, not measurements: no verdict");
  EXPECT_EQ(notes[0]->attr("font-weight"), "bold");
  EXPECT_GE(std::stod(notes[0]->attr("font-size")), 12.0);
  EXPECT_LT(std::stod(notes[0]->attr("y")), std::stod(p.root->with_class("panel-title").at(0)->attr("y")));

  // Measured cells alone give no note.
  EXPECT_TRUE(plot({{"x.json", crossing()}}).root->with_class("note").empty());
}

TEST(Plot, NoCrossoverFromIllustrativeCells) {
  Results r = crossing();  // measured, the lines cross between 10 and 100
  for (auto& [batch, c] : r.table.cells["GPU"]) c = cell(c.median_ms(), Source::Reference);
  ASSERT_FALSE(crossover(r.table).batch);
  const Parsed p = plot({{"x.json", r}});
  EXPECT_TRUE(p.root->with_class("crossover").empty());
  EXPECT_THAT(texts(*p.root), Not(Contains(HasSubstr("crossover"))));
  const auto notes = p.root->with_class("note");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_THAT(notes[0]->all_text(), HasSubstr("no verdict"));
  for (const Node* l : series_of(*p.root, "GPU").named("polyline")) EXPECT_TRUE(is_grey(l->attr("stroke")));
}

TEST(Plot, PromotedColumnIsDrawnAsDataLabelledMeasuredElsewhere) {
  Results r = crossing();
  for (auto& [batch, c] : r.table.cells["GPU"]) c = promoted(c.median_ms());
  const Parsed p = plot({{"x.json", r}});
  const Node& gpu = series_of(*p.root, "GPU");
  EXPECT_EQ(gpu.attr("data-reference"), "true");
  EXPECT_EQ(gpu.attr("data-illustrative"), "false");
  ASSERT_EQ(gpu.named("polyline").size(), 2u);
  const std::string colour = gpu.named("polyline")[0]->attr("stroke");
  EXPECT_FALSE(is_grey(colour)) << colour;
  for (const Node* l : gpu.named("polyline")) EXPECT_EQ(l->attr("stroke-dasharray"), "");
  for (const Node* m : gpu.with_class("marker")) {
    EXPECT_EQ(m->attr("fill"), colour);
    EXPECT_THAT(m->all_text(), HasSubstr("measured elsewhere: NVIDIA H200, 2026-11-29"));
  }
  EXPECT_THAT(legend_texts(*p.root), Contains(AllOf(HasSubstr("GPU"), HasSubstr("(measured elsewhere: NVIDIA H200, 2026-11-29)"))));
  EXPECT_TRUE(p.root->with_class("note").empty());
  EXPECT_THAT(texts(*p.root), Not(Contains(HasSubstr("illustrative"))));
  // Measured elsewhere is a measurement: the crossover is drawn.
  EXPECT_EQ(p.root->with_class("crossover").size(), 1u);
}

TEST(Plot, AReferenceColumnSharedByTwoFilesIsDrawnOnce) {
  Results other = cpu_measured_gpu_reference();
  for (auto& [batch, c] : other.table.cells["CPU"]) c.stats.median_ms *= 2;  // another CPU, the same reference GPU
  const Parsed p = plot({{"old.json", cpu_measured_gpu_reference()}, {"new.json", other}});
  EXPECT_EQ(p.root->with_class("series").size(), 3u);
  const Node& gpu = series_of(*p.root, "GPU");
  EXPECT_EQ(gpu.named("circle").size(), 6u);  // three batch sizes, two panels
  std::vector<std::string> gpu_entries;
  for (const std::string& e : legend_texts(*p.root))
    if (e.find("GPU") != std::string::npos) gpu_entries.push_back(e);
  ASSERT_EQ(gpu_entries.size(), 1u);
  EXPECT_THAT(gpu_entries[0], AllOf(HasSubstr("old.json"), HasSubstr("new.json"), HasSubstr("results/reference.json")));
  // One note for it too.
  EXPECT_EQ(p.root->with_class("note").size(), 1u);

  // Other values are another column: drawn apart.
  for (auto& [batch, c] : other.table.cells["GPU"]) c.stats.median_ms *= 3;
  const Parsed q = plot({{"old.json", cpu_measured_gpu_reference()}, {"new.json", other}});
  EXPECT_EQ(q.root->with_class("series").size(), 4u);
}

TEST(Plot, SeriesOfTwoFilesHaveColoursFarApartInHue) {
  const Parsed p = plot({{"a.json", crossing()}, {"b.json", crossing()}});
  std::vector<std::string> colours;
  for (const Node* s : p.root->with_class("series")) colours.push_back(s->named("polyline").at(0)->attr("stroke"));
  ASSERT_EQ(colours.size(), 4u);
  for (std::size_t i = 0; i < colours.size(); ++i) {
    EXPECT_FALSE(is_grey(colours[i])) << colours[i];
    EXPECT_GT(Rgb(colours[i]).chroma(), 0.25) << colours[i];  // a hue to tell apart, not a grey
    for (std::size_t j = 0; j < i; ++j) {
      const double d = std::fabs(Rgb(colours[i]).hue() - Rgb(colours[j]).hue());
      EXPECT_GE(std::min(d, 360 - d), 30.0) << colours[i] << " and " << colours[j];
    }
  }
}

// Emulated cells (a CUDA emulator) hold no time: no series, no crossover; a note under the title says which and why,
// and no illustrative legend line stands for them.
TEST(Plot, EmulatedCellsAreNotDrawnAndANoteSaysSo) {
  Results r = crossing();
  for (auto& [batch, c] : r.table.cells["GPU"]) c = mlpbench::testing::emulated_test_cell();
  const Parsed p = plot({{"x.json", r}});
  const auto series = p.root->with_class("series");
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0]->attr("data-device"), "CPU");
  EXPECT_TRUE(p.root->with_class("crossover").empty());
  const auto notes = p.root->with_class("note");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0]->all_text(), "GPU at batch 1, 10, 100, 1000: emulated on a CUDA emulator, not timed, not drawn");
  EXPECT_THAT(texts(*p.root), Not(Contains(HasSubstr("grey dashed lines"))));

  // Only emulated cells: nothing to draw.
  Results gpu_only;
  gpu_only.table.set("GPU", 1, mlpbench::testing::emulated_test_cell());
  EXPECT_THROW(plot_svg({{"x.json", gpu_only}}), InputError);
}

// ---- under load: p99 latency against achieved rate (serving) ----

namespace {

using mlpbench::testing::serving_run;

// The crossing file with a serving section: CPU measured (5 steps, the last two above the 1 ms bound), CPU with two
// workers measured (3 steps), GPU simulated (4 steps).
Results served() {
  Results r = crossing();
  Serving sv;
  sv.runs.push_back(serving_run("CPU", "measured", {{1000, 0.2}, {2000, 0.3}, {4000, 0.6}, {8000, 1.8}, {6000, 1.2}}, sv.config));
  sv.runs.push_back(serving_run("CPU", "measured", {{1000, 0.3}, {2000, 0.5}, {4000, 3}}, sv.config, "workers=2,threads=1"));
  sv.runs.push_back(serving_run("GPU", "simulated", {{1000, 0.05}, {1e5, 0.08}, {1e6, 0.4}, {2e6, 5}}, sv.config, "streams=1"));
  r.serving = sv;
  return r;
}

// The "x,y" pairs of a polyline's points.
std::vector<std::pair<double, double>> points_of(const Node& polyline) {
  std::vector<std::pair<double, double>> out;
  std::istringstream in(polyline.attr("points"));
  for (std::string xy; in >> xy;) out.emplace_back(std::stod(xy.substr(0, xy.find(','))), std::stod(xy.substr(xy.find(',') + 1)));
  return out;
}

}  // namespace

TEST(Plot, TheServingChartHasACurvePerRunAndTheBoundAsALine) {
  const Parsed p = plot({{"served.json", served()}});
  const std::vector<const Node*> runs = p.root->with_class("serving-series");
  ASSERT_EQ(runs.size(), 3u);
  const std::vector<std::size_t> steps = {5, 3, 4};
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const std::vector<const Node*> lines = runs[i]->named("polyline");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(points_of(*lines[0]).size(), steps[i]) << runs[i]->attr("data-run");
    EXPECT_EQ(runs[i]->with_class("marker").size(), steps[i]);
  }
  EXPECT_EQ(runs[1]->attr("data-run"), "eigen-omp [workers=2,threads=1]");
  EXPECT_EQ(runs[2]->attr("data-source"), "simulated");
  EXPECT_EQ(runs[2]->named("polyline")[0]->attr("stroke-dasharray"), "6 4") << "a simulated curve is dashed";
  EXPECT_EQ(runs[0]->named("polyline")[0]->attr("stroke-dasharray"), "") << "a measured one is not";
  EXPECT_NE(runs[0]->named("polyline")[0]->attr("stroke"), runs[1]->named("polyline")[0]->attr("stroke")) << "two CPU runs, two colours";

  const std::vector<const Node*> bounds = p.root->with_class("bound");
  ASSERT_EQ(bounds.size(), 1u);
  EXPECT_EQ(bounds[0]->attr("data-slo-ms"), "1");
  EXPECT_THAT(bounds[0]->all_text(), HasSubstr("p99 bound 1 ms"));
  const Node& line = *bounds[0]->named("line").at(0);
  EXPECT_EQ(line.attr("y1"), line.attr("y2")) << "horizontal";
  // Steps that met the bound lie below its line (a smaller p99, a larger y), those that missed it above.
  const double bound_y = std::stod(line.attr("y1"));
  for (const Node* m : runs[0]->with_class("marker")) {
    const bool met = m->attr("fill") != "#ffffff";
    EXPECT_EQ(std::stod(m->attr("cy")) > bound_y, met) << m->all_text();
  }
  // Achieved rate grows to the right along the measured curve (in order of offered rate).
  const auto xy = points_of(*runs[0]->named("polyline")[0]);
  EXPECT_LT(xy.front().first, xy.back().first);
  EXPECT_THAT(texts(*p.root), Contains("achieved rate (requests/s)"));
  EXPECT_THAT(texts(*p.root), Contains("p99 latency (ms)"));
  std::vector<std::string> legend;
  for (const Node* e : p.root->with_class("serving-legend-entry")) legend.push_back(e->named("text").at(0)->all_text());
  EXPECT_THAT(legend, Contains("GPU cuda-gemv+graph [streams=1] (simulated from results/reference.json (reference))"));
}

TEST(Plot, WithoutServingThereIsNoServingChartAndTheBatchChartIsUnchanged) {
  const std::string plain = plot_svg({{"a.json", crossing()}});
  const Parsed p = parse_xml(plain);
  EXPECT_TRUE(p.root->with_class("serving-series").empty());
  EXPECT_TRUE(p.root->with_class("bound").empty());
  const std::string with = plot_svg({{"a.json", served()}});
  // Everything after the opening tag (whose height grows) up to the end is the same, the serving chart after it.
  const std::string body = plain.substr(plain.find("<title>mlpbench"), plain.find("</svg>") - plain.find("<title>mlpbench"));
  ASSERT_NE(with.find(body), std::string::npos) << "the batch-size panels are unchanged";
  EXPECT_LT(with.find(body) + body.size(), with.find("class=\"serving-series\""));
}

TEST(Plot, ServingRunsOfTwoFilesAreNamedByFile) {
  const Parsed p = plot({{"a.json", served()}, {"b.json", served()}});
  const std::vector<const Node*> runs = p.root->with_class("serving-series");
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(runs[3]->attr("data-file"), "b.json");
  EXPECT_EQ(p.root->with_class("bound").size(), 1u) << "one bound, drawn once";
  EXPECT_NE(runs[0]->named("polyline")[0]->attr("stroke"), runs[3]->named("polyline")[0]->attr("stroke"));
}
