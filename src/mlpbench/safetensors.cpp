// safetensors reading (every field checked before use), writing, and the nn.Linear model loader with its layer
// order (given, numbered, or the only order that chains: an Eulerian trail over the widths), at most 4096 layers.
#include "mlpbench/safetensors.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "mlpbench/errors.hpp"

namespace mlpbench {
namespace {

using nlohmann::json;

// The header may not claim more than this (the format's own readers use 100 MB).
constexpr std::uint64_t kMaxHeader = 100u << 20;
// A file may hold at most this many layers (README), so that ordering them stays quick.
constexpr std::size_t kMaxLayers = 4096;
// Messages name at most this many layers, then "and N more".
constexpr std::size_t kListed = 10;

[[noreturn]] void bad(const std::string& what, const std::string& msg) { throw InputError(what + ": " + msg); }

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::uint16_t read_u16_le(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }

std::size_t dtype_size(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

bool is_known_other_dtype(const std::string& d) {
  static const char* known[] = {"F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL", "F8_E4M3", "F8_E5M2"};
  return std::any_of(std::begin(known), std::end(known), [&](const char* k) { return d == k; });
}

// Splits "layers.10.weight" into prefix "layers.10" and kind "weight".
bool split_name(const std::string& name, std::string& prefix, std::string& kind) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return false;
  prefix = name.substr(0, dot);
  kind = name.substr(dot + 1);
  return true;
}

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The run of digits, or of other characters, that starts at s[i].
std::string_view chunk_at(std::string_view s, std::size_t i) {
  std::size_t end = i;
  while (end < s.size() && is_digit(s[end]) == is_digit(s[i])) ++end;
  return s.substr(i, end - i);
}

// Two runs of digits as numbers: -1, 0 or 1 ("2" < "10", "01" == "1").
int compare_numbers(std::string_view a, std::string_view b) {
  a.remove_prefix(std::min(a.find_first_not_of('0'), a.size()));
  b.remove_prefix(std::min(b.find_first_not_of('0'), b.size()));
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
}

// How two names compare in natural order, run by run ("fc2" < "fc10", "net.9.fc" < "net.10.fc"): `order` is
// -1, 0 or 1; `by_number` whether the first runs that differ are numbers in both.
struct NameOrder {
  int order;
  bool by_number;
};

NameOrder compare_names(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const std::string_view ra = chunk_at(a, i), rb = chunk_at(b, j);
    i += ra.size();
    j += rb.size();
    if (is_digit(ra[0]) && is_digit(rb[0])) {
      const int c = compare_numbers(ra, rb);
      if (c != 0) return {c, true};
    } else if (ra != rb) {
      return {ra < rb ? -1 : 1, false};
    }
  }
  return {static_cast<int>(i < a.size()) - static_cast<int>(j < b.size()), false};
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// ---- layer order ----

// A layer as the order sees it: its prefix and widths.
struct Link {
  std::string name;
  int in = 0;
  int out = 0;
};
using Order = std::vector<std::size_t>;  // indices into the links, first layer first

// 0, 1, ..., n-1: the links as they are listed (by name).
Order listed(std::size_t n) {
  Order o(n);
  for (std::size_t i = 0; i < n; ++i) o[i] = i;
  return o;
}

bool has_digit(const std::string& s) { return std::any_of(s.begin(), s.end(), is_digit); }

// The first kListed of n items (item(k) for k < n) joined by `sep`, then " and N more" for the rest.
template <class Item>
std::string listed_text(std::size_t n, const char* sep, const Item& item) {
  std::string s;
  for (std::size_t k = 0; k < std::min(n, kListed); ++k) s += (k ? sep : "") + item(k);
  if (n > kListed) s += " and " + std::to_string(n - kListed) + " more";
  return s;
}

std::string link_text(const Link& l) { return l.name + " (" + std::to_string(l.in) + "->" + std::to_string(l.out) + ")"; }

// "a (4->3), b (3->2)", the links in `order` (the first kListed of them).
std::string links_text(const std::vector<Link>& links, const Order& order) {
  return listed_text(order.size(), ", ", [&](std::size_t k) { return link_text(links[order[k]]); });
}

// "a,b": the order as --layer-order takes it (the first kListed of them).
std::string names_text(const std::vector<Link>& links, const Order& order) {
  return listed_text(order.size(), ",", [&](std::size_t k) { return links[order[k]].name; });
}

// The links in the order of the numbers in their names, when the names carry one: every name holds a number and
// each two names next in natural order first differ in a number ("net.0" < "net.2", "fc1" < "fc10",
// "layers.3.fc" < "layers.10.fc"; not "block.0.down" and "block.0.up"). Else nullopt and `why_not` says why.
std::optional<Order> numbered_order(const std::vector<Link>& links, std::string& why_not) {
  for (const Link& l : links) {
    if (!has_digit(l.name)) {
      why_not = "no number in '" + l.name + "'";
      return std::nullopt;
    }
  }
  Order order = listed(links.size());
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return compare_names(links[a].name, links[b].name).order < 0; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const std::string &a = links[order[i - 1]].name, &b = links[order[i]].name;
    if (!compare_names(a, b).by_number) {
      why_not = "'" + a + "' and '" + b + "' are not ordered by a number in their names";
      return std::nullopt;
    }
  }
  return order;
}

// The orders in which the layers chain (each layer's in is the out of the one before): none, the only one, or
// two of several. Widths are the nodes of a graph and each layer an edge in -> out, so an order that chains is
// a trail taking every edge once (an Eulerian trail). One exists when the degrees allow (every width as many
// layers out as in, except that the first layer's in may have one more out and the last layer's out one more
// in) and the edges are connected. Where every width is balanced, a trail is a circuit and, from two layers on,
// each rotation of it chains too. Else the trail starts at the one width with a layer more out than in, and a
// walk takes at each width the edges that leave the rest connected to where they end (each leads to a trail):
// the order is the only one when each step has one such edge. Iterative: linear memory, quadratic time at worst.
class ChainOrders {
 public:
  explicit ChainOrders(const std::vector<Link>& links) : used_(links.size(), 0) {
    std::map<int, std::size_t> node;  // width -> node
    for (const Link& l : links) {
      node.emplace(l.in, node.size());
      node.emplace(l.out, node.size());
    }
    out_edges_.resize(node.size());
    balance_.assign(node.size(), 0);
    for (std::size_t e = 0; e < links.size(); ++e) {
      from_.push_back(node.at(links[e].in));
      to_.push_back(node.at(links[e].out));
      out_edges_[from_[e]].push_back(e);
      ++balance_[from_[e]];
      --balance_[to_[e]];
    }
  }

  // No order, the only one, or two of those that chain.
  std::vector<Order> find() {
    if (used_.empty()) return {};
    // A width off by more than one, or two widths with a layer more out than in, allow no trail.
    std::vector<std::size_t> starts;
    for (std::size_t v = 0; v < balance_.size(); ++v) {
      if (balance_[v] < -1 || balance_[v] > 1) return {};
      if (balance_[v] == 1) starts.push_back(v);
    }
    if (starts.size() > 1) return {};
    const std::size_t start = starts.empty() ? from_[0] : starts[0];
    if (!connected_to(start)) return {};
    if (!starts.empty()) return walk(start);
    Order circuit = complete(start);
    if (circuit.size() == 1) return {circuit};
    Order rotated(circuit.begin() + 1, circuit.end());
    rotated.push_back(circuit.front());
    return {circuit, rotated};
  }

 private:
  // Whether every unused edge is connected to node `at` (edges taken as undirected), by union-find.
  bool connected_to(std::size_t at) const {
    std::vector<std::size_t> parent(balance_.size());
    for (std::size_t v = 0; v < parent.size(); ++v) parent[v] = v;
    const auto root = [&](std::size_t v) {
      while (parent[v] != v) v = parent[v] = parent[parent[v]];
      return v;
    };
    for (std::size_t e = 0; e < used_.size(); ++e) {
      if (!used_[e]) parent[root(from_[e])] = root(to_[e]);
    }
    for (std::size_t e = 0; e < used_.size(); ++e) {
      if (!used_[e] && root(from_[e]) != root(at)) return false;
    }
    return true;
  }

  // Whether taking unused edge e leaves a trail over the rest from where it ends.
  bool leads_on(std::size_t e) {
    used_[e] = 1;
    const bool ok = connected_to(to_[e]);
    used_[e] = 0;
    return ok;
  }

  // Up to two unused edges out of `at` that lead on; the one there is when it is the only unused edge (a trail
  // over the unused edges from `at` exists: the walk keeps it so).
  std::vector<std::size_t> next_edges(std::size_t at) {
    std::vector<std::size_t> unused, next;
    for (std::size_t e : out_edges_[at]) {
      if (!used_[e]) unused.push_back(e);
    }
    if (unused.size() == 1) return unused;
    for (std::size_t e : unused) {
      if (leads_on(e)) next.push_back(e);
      if (next.size() == 2) break;
    }
    return next;
  }

  // The walk from `start`: the only order, or two (where a step can take either of two edges).
  std::vector<Order> walk(std::size_t start) {
    Order path;
    std::size_t at = start;
    while (path.size() < used_.size()) {
      const std::vector<std::size_t> next = next_edges(at);
      if (next.empty()) return {};  // not reached: each step leaves a trail
      if (next.size() == 2) return {taking(path, next[0]), taking(path, next[1])};
      used_[next[0]] = 1;
      path.push_back(next[0]);
      at = to_[next[0]];
    }
    return {path};
  }

  // `path`, then edge e, then a trail over the rest.
  Order taking(Order path, std::size_t e) {
    used_[e] = 1;
    const Order rest = complete(to_[e]);
    used_[e] = 0;
    path.push_back(e);
    path.insert(path.end(), rest.begin(), rest.end());
    return path;
  }

  // A trail over the unused edges from node `from`, which must exist (Hierholzer's algorithm, with a stack).
  Order complete(std::size_t from) const {
    constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
    std::vector<char> used = used_;
    std::vector<std::size_t> next(out_edges_.size(), 0);            // by node: its first out edge not yet tried
    std::vector<std::pair<std::size_t, std::size_t>> stack{{from, kNone}};  // node, the edge that led to it
    Order trail;  // last edge first
    while (!stack.empty()) {
      const std::size_t v = stack.back().first;
      std::size_t& k = next[v];
      while (k < out_edges_[v].size() && used[out_edges_[v][k]]) ++k;
      if (k < out_edges_[v].size()) {
        const std::size_t e = out_edges_[v][k++];
        used[e] = 1;
        stack.emplace_back(to_[e], e);
      } else {
        if (stack.back().second != kNone) trail.push_back(stack.back().second);
        stack.pop_back();
      }
    }
    std::reverse(trail.begin(), trail.end());
    return trail;
  }

  std::vector<std::size_t> from_, to_;              // by edge: the nodes of its in and out widths
  std::vector<std::vector<std::size_t>> out_edges_;  // by node: the edges leaving it
  std::vector<int> balance_;                        // by node: edges out - edges in
  std::vector<char> used_;                          // by edge: on the walk
};

// Where `order` breaks: "'a' (4->3) gives 3 but 'b' (5->2) after it takes 5"; "" when it chains.
std::string chain_break(const std::vector<Link>& links, const Order& order) {
  for (std::size_t i = 1; i < order.size(); ++i) {
    const Link &a = links[order[i - 1]], &b = links[order[i]];
    if (a.out != b.in) {
      return "'" + a.name + "' (" + std::to_string(a.in) + "->" + std::to_string(a.out) + ") gives " + std::to_string(a.out) + " but '" + b.name +
             "' (" + std::to_string(b.in) + "->" + std::to_string(b.out) + ") after it takes " + std::to_string(b.in);
    }
  }
  return "";
}

// What a user can do when an order they gave or their numbers set doesn't chain: the order that does, or "".
std::string chaining_hint(const std::vector<Link>& links) {
  const std::vector<Order> orders = ChainOrders(links).find();
  if (orders.empty()) return "";
  const std::string names = names_text(links, orders[0]);
  if (orders.size() > 1) return "; other orders chain, e.g. " + names + ": give the one you mean with --layer-order";
  if (links.size() > kListed) return "; the only order that chains is " + names + ": give it with --layer-order (every layer once)";
  return "; the only order that chains is " + names + ": give it with --layer-order " + names;
}

// How `source` is named in messages.
std::string source_text(const std::string& source) { return source == "metadata" ? "__metadata__ layer_order" : source; }

// The order `given` names (every link exactly once, in an order that chains). Throws InputError naming the
// empty, unknown, repeated or left-out name, or where the order breaks.
Order given_order(const std::vector<Link>& links, const GivenOrder& given, const std::string& what) {
  const std::string src = source_text(given.source);
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < links.size(); ++i) index[links[i].name] = i;
  Order order;
  std::vector<char> named(links.size(), 0);
  std::size_t entry = 0, begin = 0;
  while (begin <= given.names.size()) {
    const std::size_t comma = std::min(given.names.find(',', begin), given.names.size());
    std::string name = given.names.substr(begin, comma - begin);
    begin = comma + 1;
    ++entry;
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name.empty()) bad(what, src + " entry #" + std::to_string(entry) + " is empty");
    const auto it = index.find(name);
    if (it == index.end()) {
      bad(what, src + " names '" + name + "', which is not a layer of the file (its layers: " + names_text(links, listed(links.size())) + ")");
    }
    if (named[it->second]) bad(what, src + " names '" + name + "' twice");
    named[it->second] = 1;
    order.push_back(it->second);
  }
  Order missing;
  for (std::size_t i = 0; i < links.size(); ++i) {
    if (!named[i]) missing.push_back(i);
  }
  if (!missing.empty()) {
    bad(what, src + " leaves out " + listed_text(missing.size(), ", ", [&](std::size_t k) { return "'" + links[missing[k]].name + "'"; }) +
                  " (name every layer once)");
  }
  const std::string broken = chain_break(links, order);
  if (!broken.empty()) bad(what, "layers don't chain in the order of " + src + ": " + broken + chaining_hint(links));
  return order;
}

// The file's layers by name, each one's tensors and shapes checked, at most kMaxLayers of them.
std::vector<Link> layer_links(const TensorMap& tensors, const std::string& what) {
  for (const auto& [name, t] : tensors) {
    std::string prefix, kind;
    if (!split_name(name, prefix, kind) || (kind != "weight" && kind != "bias")) {
      bad(what, "tensor '" + name + "' is not an nn.Linear '<prefix>.weight' or '<prefix>.bias'");
    }
    if (kind == "bias" && !tensors.count(prefix + ".weight")) bad(what, "tensor '" + name + "' has no matching '" + prefix + ".weight'");
  }
  std::vector<Link> links;
  for (const auto& [name, w] : tensors) {
    std::string p, kind;
    split_name(name, p, kind);
    if (kind != "weight") continue;
    if (w.shape.size() != 2) bad(what, "'" + name + "' has shape " + shape_text(w.shape) + ", expected [out, in]");
    const auto b = tensors.find(p + ".bias");
    if (b != tensors.end() && (b->second.shape.size() != 1 || b->second.shape[0] != w.shape[0])) {
      bad(what, "'" + p + ".bias' has shape " + shape_text(b->second.shape) + ", expected [" + std::to_string(w.shape[0]) + "]");
    }
    if (w.shape[0] < 1 || w.shape[1] < 1 || w.shape[0] > kMaxWidth || w.shape[1] > kMaxWidth) {
      bad(what, "'" + name + "' has shape " + shape_text(w.shape) + ", each width must be in [1, " + std::to_string(kMaxWidth) + "]");
    }
    links.push_back({p, static_cast<int>(w.shape[1]), static_cast<int>(w.shape[0])});
  }
  if (links.empty()) bad(what, "holds no '<prefix>.weight' tensor");
  if (links.size() > kMaxLayers) bad(what, "holds " + std::to_string(links.size()) + " layers, more than the limit of " + std::to_string(kMaxLayers));
  return links;
}

// The only order in which layers whose names carry none (`why_not` says why) chain. Throws InputError naming the
// layers when none chains or more than one does, then how to give the order (a placeholder: neither is the one).
Order only_chain(const std::vector<Link>& links, const std::string& what, const std::string& why_not) {
  const std::vector<Order> orders = ChainOrders(links).find();
  const std::string all = links_text(links, listed(links.size()));
  if (orders.empty()) bad(what, "the layers " + all + " chain in no order (each layer takes what the one before gives)");
  if (orders.size() > 1) {
    const std::string e_g = links.size() > kListed ? "" : " (e.g. " + names_text(links, orders[0]) + " and " + names_text(links, orders[1]) + ")";
    bad(what, "the layers " + all + " chain in more than one order" + e_g + " and their names carry no order (" + why_not +
                  "): give the order with --layer-order FIRST,...,LAST (every layer's name once, first to last) or a \"layer_order\" entry "
                  "\"FIRST,...,LAST\" in the file's __metadata__");
  }
  return orders.front();
}

// The layers' order, given, numbered or the only one that chains; `how` says which.
Order layer_order(const std::vector<Link>& links, const std::string& what, const std::optional<GivenOrder>& given, std::string& how) {
  if (given) {
    how = given->source;
    return given_order(links, *given, what);
  }
  std::string why_not;
  if (const std::optional<Order> numbered = numbered_order(links, why_not)) {
    const std::string broken = chain_break(links, *numbered);
    if (!broken.empty()) bad(what, "layers don't chain in the order of the numbers in their names: " + broken + chaining_hint(links));
    how = "numbered";
    return *numbered;
  }
  how = "only chain";
  return only_chain(links, what, why_not);
}

}  // namespace

float half_to_float(std::uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -24);  // zero and subnormals
  } else if (exp == 31) {
    v = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    v = std::ldexp(static_cast<float>(mant | 0x400), exp - 25);
  }
  return sign ? -v : v;
}

float bfloat16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

SafetensorsFile parse_safetensors_file(const std::uint8_t* bytes, std::size_t size, const std::string& what) {
  if (size < 8) bad(what, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  const std::uint64_t header_len = read_u64_le(bytes);
  if (header_len > size - 8) bad(what, "header length " + std::to_string(header_len) + " runs past the end of the file (" + std::to_string(size) + " bytes)");
  if (header_len > kMaxHeader) bad(what, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  const std::uint8_t* data = bytes + 8 + header_len;
  const std::uint64_t data_size = size - 8 - header_len;

  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const json::exception& e) {
    bad(what, "header is not valid JSON: " + json_error_text(e));
  }
  if (!header.is_object()) bad(what, "header is not a JSON object");

  SafetensorsFile file;
  TensorMap& tensors = file.tensors;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) bad(what, "\"__metadata__\" is not an object");
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) bad(what, "\"__metadata__\" entry \"" + key + "\" is not a string");
        file.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!info.is_object()) bad(what, where + ": entry is not an object");
    if (!info.contains("dtype") || !info["dtype"].is_string()) bad(what, where + ": missing \"dtype\"");
    if (!info.contains("shape") || !info["shape"].is_array()) bad(what, where + ": missing \"shape\"");
    if (!info.contains("data_offsets") || !info["data_offsets"].is_array() || info["data_offsets"].size() != 2) {
      bad(what, where + ": \"data_offsets\" must be [begin, end]");
    }
    Tensor t;
    t.dtype = info["dtype"].get<std::string>();
    const std::size_t esize = dtype_size(t.dtype);
    if (esize == 0) {
      bad(what, where + ": dtype " + t.dtype + (is_known_other_dtype(t.dtype) ? " is not supported (F32, F16 or BF16)" : " is unknown"));
    }
    // Element count with overflow checks; shapes are small non-negative integers.
    std::uint64_t count = 1;
    for (const json& d : info["shape"]) {
      if (!d.is_number_unsigned()) bad(what, where + ": shape holds a value that is not a non-negative integer");
      const std::uint64_t dim = d.get<std::uint64_t>();
      if (dim > (std::uint64_t{1} << 40) || (dim != 0 && count > (std::uint64_t{1} << 40) / dim)) bad(what, where + ": shape is too large");
      count *= dim;
      t.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const json& offs = info["data_offsets"];
    if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned()) bad(what, where + ": data_offsets must be non-negative integers");
    const std::uint64_t begin = offs[0].get<std::uint64_t>(), end = offs[1].get<std::uint64_t>();
    if (begin > end) bad(what, where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] are reversed");
    if (end > data_size) {
      bad(what, where + ": data_offsets end " + std::to_string(end) + " is past the end of the data (" + std::to_string(data_size) + " bytes)");
    }
    if (end - begin != count * esize) {
      bad(what, where + ": shape " + shape_text(t.shape) + " of " + t.dtype + " needs " + std::to_string(count * esize) + " bytes, data_offsets hold " +
                    std::to_string(end - begin));
    }
    t.data.resize(count);
    const std::uint8_t* p = data + begin;
    if (t.dtype == "F32") {
      for (std::uint64_t i = 0; i < count; ++i) {
        std::uint32_t bits = static_cast<std::uint32_t>(p[4 * i]) | static_cast<std::uint32_t>(p[4 * i + 1]) << 8 |
                             static_cast<std::uint32_t>(p[4 * i + 2]) << 16 | static_cast<std::uint32_t>(p[4 * i + 3]) << 24;
        std::memcpy(&t.data[i], &bits, 4);
      }
    } else if (t.dtype == "F16") {
      for (std::uint64_t i = 0; i < count; ++i) t.data[i] = half_to_float(read_u16_le(p + 2 * i));
    } else {
      for (std::uint64_t i = 0; i < count; ++i) t.data[i] = bfloat16_to_float(read_u16_le(p + 2 * i));
    }
    tensors.emplace(name, std::move(t));
  }
  return file;
}

TensorMap parse_safetensors(const std::uint8_t* bytes, std::size_t size, const std::string& what) {
  return parse_safetensors_file(bytes, size, what).tensors;
}

SafetensorsFile read_safetensors_file(const std::string& path) {
  // A folder opens like a file on Linux and reports a huge size: say what it is instead of allocating that.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) bad(path, "is a directory, not a safetensors file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) bad(path, std::string("cannot open: ") + std::strerror(errno));
  const std::streamoff size = in.tellg();
  if (size < 0) bad(path, "cannot read its size");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) bad(path, "cannot read");
  return parse_safetensors_file(bytes.data(), bytes.size(), path);
}

TensorMap read_safetensors(const std::string& path) { return read_safetensors_file(path).tensors; }

std::vector<std::uint8_t> serialize_safetensors(const TensorMap& tensors, const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    std::uint64_t count = 1;
    for (auto d : t.shape) count *= static_cast<std::uint64_t>(d);
    if (count != t.data.size()) throw InputError("tensor '" + name + "': shape " + shape_text(t.shape) + " doesn't match its " + std::to_string(t.data.size()) + " values");
    header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * count}}};
    offset += 4 * count;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // data starts 8-byte aligned
  std::vector<std::uint8_t> out(8 + h.size() + offset);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(h.size()) >> (8 * i));
  std::memcpy(out.data() + 8, h.data(), h.size());
  std::uint8_t* p = out.data() + 8 + h.size();
  for (const auto& [name, t] : tensors) {
    for (float v : t.data) {
      std::uint32_t bits;
      std::memcpy(&bits, &v, 4);
      for (int i = 0; i < 4; ++i) *p++ = static_cast<std::uint8_t>(bits >> (8 * i));
    }
  }
  return out;
}

Model model_from_tensors(const TensorMap& tensors, const std::string& what, const std::optional<GivenOrder>& given) {
  const std::vector<Link> links = layer_links(tensors, what);
  std::string how;
  const Order order = layer_order(links, what, given, how);
  Model m;
  for (std::size_t i : order) {
    const Link& k = links[i];
    Layer l;
    l.in = k.in;
    l.out = k.out;
    l.weight = tensors.at(k.name + ".weight").data;
    const auto b = tensors.find(k.name + ".bias");
    if (b != tensors.end()) {
      l.bias = b->second.data;
    } else {
      l.bias.assign(static_cast<std::size_t>(l.out), 0.0f);  // nn.Linear(bias=False)
      m.origin.no_bias.push_back(k.name);
    }
    m.origin.layer_names.push_back(k.name);
    m.layers.push_back(std::move(l));
  }
  m.origin.layer_order = how;
  try {
    validate_model(m);
  } catch (const InputError& e) {
    bad(what, e.what());
  }
  return m;
}

std::string layer_order_summary(const Model& model) {
  const WeightsOrigin& o = model.origin;
  if (o.layer_names.size() != model.layers.size() || (o.layer_order == "numbered" && o.no_bias.empty())) return "";
  const std::string how = o.layer_order == "only chain"      ? "in the only order that chains"
                          : o.layer_order == "--layer-order" ? "in the order of --layer-order"
                          : o.layer_order == "metadata"      ? "in the order of its __metadata__ layer_order"
                                                             : "in the order of the numbers in their names";
  return "layers of " + o.file + " " + how + ": " + listed_text(model.layers.size(), ", ", [&](std::size_t i) {
           const std::string& name = o.layer_names[i];
           const bool no_bias = std::find(o.no_bias.begin(), o.no_bias.end(), name) != o.no_bias.end();
           return name + " (" + std::to_string(model.layers[i].in) + "->" + std::to_string(model.layers[i].out) + (no_bias ? ", no bias)" : ")");
         });
}

std::string sha256_file(const std::string& path) {
  // A folder opens and reads as empty: without this it would get the digest of an empty file.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) bad(path, "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) bad(path, std::string("cannot open: ") + std::strerror(errno));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    throw RuntimeError("OpenSSL: cannot initialize sha256");
  }
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned int i = 0; i < len; ++i) {
    s.push_back(hex[digest[i] >> 4]);
    s.push_back(hex[digest[i] & 15]);
  }
  return s;
}

Model load_model(const std::string& path, const std::optional<std::string>& layer_order) {
  const SafetensorsFile f = read_safetensors_file(path);
  std::optional<GivenOrder> given;
  const auto meta = f.metadata.find("layer_order");
  if (layer_order) given = GivenOrder{*layer_order, "--layer-order"};
  else if (meta != f.metadata.end()) given = GivenOrder{meta->second, "metadata"};
  Model m = model_from_tensors(f.tensors, path, given);
  m.origin.kind = "file";
  m.origin.file = path;
  m.origin.sha256 = sha256_file(path);
  return m;
}

}  // namespace mlpbench
