// Output files: written through a temporary file in the target's folder and renamed (or linked) into place,
// never replacing an existing file without --force, removed if SIGINT/SIGTERM arrives mid-write; and the
// check a command makes before its work, so a run fails at once rather than after measuring. The output "-" is
// standard output (`--out -`), for every command that writes a file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mlpbench {

// The whole file; `what` ("results file", ...) names it in errors. Throws InputError (missing, a folder,
// unreadable).
std::string read_text_file(const std::string& path, const std::string& what);

// "-": the output is standard output. output_name: "standard output" for "-", else the path, for messages.
bool is_stdout(const std::string& path);
std::string output_name(const std::string& path);

// Writes the bytes through a temporary file in the target's folder (made if missing). Throws InputError if
// `path` exists and !force (also when it appears while writing); RuntimeError if the folder can't be written.
// "-" writes them to standard output (force has nothing to replace there); RuntimeError if that fails.
void write_binary_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes, bool force);
void write_text_atomic(const std::string& path, const std::string& text, bool force);

// SIGINT/SIGTERM handlers that remove the temporary file of a write in progress and every ReservedOutput not yet
// written, then end the process as the signal would: an interrupted run never leaves a partial, temporary or
// reserved file behind.
void install_interrupt_cleanup();

// An output name taken before the work that fills it, so runs started together never pick the same one: `path`
// created empty and exclusively (O_CREAT|O_EXCL, its folder made if missing), or on a clash the first free of
// NAME-2.json, NAME-3.json, ... (the suffix before the extension). Until write() fills it, an interrupt
// (install_interrupt_cleanup) or the destructor (a failed run) removes it. RuntimeError if it can't be created.
class ReservedOutput {
 public:
  explicit ReservedOutput(const std::string& path);
  ~ReservedOutput();
  ReservedOutput(const ReservedOutput&) = delete;
  ReservedOutput& operator=(const ReservedOutput&) = delete;
  const std::string& path() const { return path_; }  // the name taken
  // The text, written atomically over the reserved (own, empty) file, which is kept from then on.
  void write(const std::string& text);

 private:
  std::string path_;
  bool kept_ = false;
};

// Before the work that produces it: that `path` is not a folder, exists only if `force`, and that its
// folder exists (or can be made) and takes a file. Throws InputError (a folder, an existing file) or
// RuntimeError (the folder can't be written). "-" (standard output) passes.
void check_writable(const std::string& path, bool force);

}  // namespace mlpbench
