// Output files written atomically (a temporary file in the target's folder, linked or renamed into place),
// never replacing a file without --force, and removed if SIGINT/SIGTERM arrives mid-write; output names reserved
// exclusively before the work that fills them. See files.hpp.
#include "mlpbench/files.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "mlpbench/errors.hpp"

namespace mlpbench {
namespace {

std::string errno_text() { return std::strerror(errno); }

// The temporary file being written, and the reserved outputs not yet written, for the signal handler (plain
// pointers: async-signal-safe to read). A process reserves one output; a few slots spare.
std::atomic<const char*> g_temp_file{nullptr};
std::atomic<const char*> g_reserved[4];

extern "C" void remove_temp_and_reraise(int sig) {
  if (const char* p = g_temp_file.load()) ::unlink(p);
  for (const auto& r : g_reserved) {
    if (const char* p = r.load()) ::unlink(p);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// Takes `path` off the signal handler's reserved outputs.
void forget_reserved(const char* path) {
  for (auto& slot : g_reserved) {
    const char* mine = path;
    slot.compare_exchange_strong(mine, nullptr);
  }
}

// The folder of `target`, made if missing.
std::filesystem::path make_folder_of(const std::filesystem::path& target) {
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw RuntimeError("cannot create folder '" + dir.string() + "': " + ec.message());
  return dir;
}

// What every output goes through first: not a folder, not an existing file unless `force`, and its
// folder made if missing. Returns the folder.
std::filesystem::path output_folder(const std::string& path, bool force) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (fs::is_directory(target, ec)) throw InputError("output '" + path + "' is a directory");
  if (!force && fs::exists(target, ec)) throw InputError("output '" + path + "' exists; pass --force to replace it");
  return make_folder_of(target);
}


void write_stdout(const std::vector<std::uint8_t>& bytes) {
  std::cout.flush();  // what the command printed before, in order
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() || std::fflush(stdout) != 0) {
    throw RuntimeError("cannot write to standard output: " + errno_text());
  }
}

}  // namespace

bool is_stdout(const std::string& path) { return path == "-"; }
std::string output_name(const std::string& path) { return is_stdout(path) ? "standard output" : path; }

std::string read_text_file(const std::string& path, const std::string& what) {
  std::error_code ec;  // a folder opens and reads as empty, which would be reported as invalid content
  if (std::filesystem::is_directory(path, ec)) throw InputError(what + " '" + path + "' is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open " + what + " '" + path + "': " + errno_text());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError("cannot read " + what + " '" + path + "': " + errno_text());
  return ss.str();
}

void write_binary_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes, bool force) {
  if (is_stdout(path)) return write_stdout(bytes);
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = output_folder(path, force);

  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw RuntimeError("cannot write in '" + dir.string() + "': " + errno_text());
  g_temp_file.store(tmpl.c_str());
  struct Cleanup {  // removes the temporary file on every path that doesn't rename it into place
    std::string path;
    bool armed = true;
    ~Cleanup() {
      g_temp_file.store(nullptr);
      if (armed) ::unlink(path.c_str());
    }
  } cleanup{tmpl};
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = errno_text();
      ::close(fd);
      throw RuntimeError("cannot write '" + path + "': " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, 0644);
  const bool synced = ::fsync(fd) == 0;
  const std::string sync_error = synced ? "" : errno_text();
  if (::close(fd) != 0 || !synced) throw RuntimeError("cannot write '" + path + "': " + (synced ? errno_text() : sync_error));
  if (force) {
    if (::rename(tmpl.c_str(), path.c_str()) != 0) throw RuntimeError("cannot rename into '" + path + "': " + errno_text());
  } else {
    // link() fails if the target appeared meanwhile: never replaces a file without --force.
    if (::link(tmpl.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) throw InputError("output '" + path + "' exists; pass --force to replace it");
      throw RuntimeError("cannot create '" + path + "': " + errno_text());
    }
    ::unlink(tmpl.c_str());
  }
  cleanup.armed = false;
}

void check_writable(const std::string& path, bool force) {
  if (is_stdout(path)) return;
  const std::filesystem::path dir = output_folder(path, force);
  std::string probe = (dir / ".mlpbench-write-check.XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) throw RuntimeError("cannot write in '" + dir.string() + "': " + errno_text());
  ::close(fd);
  ::unlink(probe.c_str());
}

void install_interrupt_cleanup() {
  struct sigaction sa {};
  sa.sa_handler = remove_temp_and_reraise;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

ReservedOutput::ReservedOutput(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  make_folder_of(target);
  // Created and registered with SIGINT/SIGTERM held back, so an interrupt finds every reserved file registered.
  sigset_t block, before;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &block, &before);
  std::string why;
  for (int n = 1; n <= 10000 && path_.empty() && why.empty(); ++n) {
    const std::string name =
        n == 1 ? path : (target.parent_path() / (target.stem().string() + "-" + std::to_string(n) + target.extension().string())).string();
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      path_ = name;
    } else if (errno != EEXIST) {
      why = "cannot create '" + name + "': " + errno_text();
    }
  }
  if (!path_.empty()) {
    for (auto& slot : g_reserved) {
      const char* none = nullptr;
      if (slot.compare_exchange_strong(none, path_.c_str())) break;
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  if (path_.empty()) throw RuntimeError(why.empty() ? "no free name beside '" + path + "'" : why);
}

ReservedOutput::~ReservedOutput() {
  forget_reserved(path_.c_str());
  if (!kept_) ::unlink(path_.c_str());
}

void ReservedOutput::write(const std::string& text) {
  write_text_atomic(path_, text, /*force=*/true);  // over our own empty file
  forget_reserved(path_.c_str());
  kept_ = true;
}

void write_text_atomic(const std::string& path, const std::string& text, bool force) {
  write_binary_atomic(path, std::vector<std::uint8_t>(text.begin(), text.end()), force);
}

}  // namespace mlpbench
