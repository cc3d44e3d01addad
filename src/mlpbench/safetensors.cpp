// safetensors reading (every field checked before use), writing, and the nn.Linear model loader.
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

#include "mlpbench/errors.hpp"

namespace mlpbench {
namespace {

using nlohmann::json;

// The header may not claim more than this (the format's own readers use 100 MB).
constexpr std::uint64_t kMaxHeader = 100u << 20;

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

// Natural order: runs of digits compare as numbers, so "2" < "10" and "fc2" < "fc10".
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])), db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::string na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      na.erase(0, std::min(na.find_first_not_of('0'), na.size() - 1));
      nb.erase(0, std::min(nb.find_first_not_of('0'), nb.size() - 1));
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
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

TensorMap parse_safetensors(const std::uint8_t* bytes, std::size_t size, const std::string& what) {
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

  TensorMap tensors;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
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
  return tensors;
}

TensorMap read_safetensors(const std::string& path) {
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
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

std::vector<std::uint8_t> serialize_safetensors(const TensorMap& tensors) {
  json header = json::object();
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

Model model_from_tensors(const TensorMap& tensors, const std::string& what) {
  std::vector<std::string> prefixes;
  for (const auto& [name, t] : tensors) {
    std::string prefix, kind;
    if (!split_name(name, prefix, kind) || (kind != "weight" && kind != "bias")) {
      bad(what, "tensor '" + name + "' is not an nn.Linear '<prefix>.weight' or '<prefix>.bias'");
    }
    if (kind == "weight") prefixes.push_back(prefix);
    else if (!tensors.count(prefix + ".weight")) bad(what, "tensor '" + name + "' has no matching '" + prefix + ".weight'");
  }
  if (prefixes.empty()) bad(what, "holds no '<prefix>.weight' tensor");
  std::sort(prefixes.begin(), prefixes.end(), natural_less);

  Model m;
  for (const std::string& p : prefixes) {
    const Tensor& w = tensors.at(p + ".weight");
    const auto bit = tensors.find(p + ".bias");
    if (bit == tensors.end()) bad(what, "layer '" + p + "' has a weight but no '" + p + ".bias'");
    const Tensor& b = bit->second;
    if (w.shape.size() != 2) bad(what, "'" + p + ".weight' has shape " + shape_text(w.shape) + ", expected [out, in]");
    if (b.shape.size() != 1 || b.shape[0] != w.shape[0]) {
      bad(what, "'" + p + ".bias' has shape " + shape_text(b.shape) + ", expected [" + std::to_string(w.shape[0]) + "]");
    }
    if (w.shape[0] < 1 || w.shape[1] < 1 || w.shape[0] > kMaxWidth || w.shape[1] > kMaxWidth) {
      bad(what, "'" + p + ".weight' has shape " + shape_text(w.shape) + ", each width must be in [1, " + std::to_string(kMaxWidth) + "]");
    }
    Layer l;
    l.out = static_cast<int>(w.shape[0]);
    l.in = static_cast<int>(w.shape[1]);
    if (!m.layers.empty() && m.layers.back().out != l.in) {
      bad(what, "layers don't chain: '" + p + ".weight' takes " + std::to_string(l.in) + " inputs but the layer before gives " +
                    std::to_string(m.layers.back().out));
    }
    l.weight = w.data;
    l.bias = b.data;
    m.layers.push_back(std::move(l));
  }
  try {
    validate_model(m);
  } catch (const InputError& e) {
    bad(what, e.what());
  }
  return m;
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

Model load_model(const std::string& path) {
  Model m = model_from_tensors(read_safetensors(path), path);
  m.origin.kind = "file";
  m.origin.file = path;
  m.origin.sha256 = sha256_file(path);
  return m;
}

}  // namespace mlpbench
