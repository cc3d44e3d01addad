// Output files: written atomically (never a partial or temporary file left), never replacing a file without
// --force, refusing folders, and a clear error where the folder can't be written.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "mlpbench/errors.hpp"
#include "mlpbench/files.hpp"
#include "test_util.hpp"

using namespace mlpbench;
using mlpbench::testing::input_error;
using mlpbench::testing::slurp;
using mlpbench::testing::TempDir;
using mlpbench::testing::write_plain;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

TEST(WriteTextAtomic, WritesANewFileAndItsFolder) {
  TempDir dir;
  const std::string path = dir.file("sub/deeper/out.json");
  write_text_atomic(path, "hello\n", false);
  EXPECT_EQ(slurp(path), "hello\n");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"sub"}));
  std::vector<std::string> inner;
  for (const auto& e : fs::directory_iterator(dir.path / "sub" / "deeper")) inner.push_back(e.path().filename().string());
  EXPECT_EQ(inner, (std::vector<std::string>{"out.json"}));  // no temporary left behind
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
}

TEST(WriteTextAtomic, RefusesToReplaceWithoutForce) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  write_text_atomic(path, "old\n", false);
  const std::string msg = input_error([&] { write_text_atomic(path, "new\n", false); });
  EXPECT_THAT(msg, HasSubstr("output '" + path + "' exists; pass --force to replace it"));
  EXPECT_EQ(slurp(path), "old\n");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"out.json"}));
}

TEST(WriteTextAtomic, ReplacesWithForce) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  write_text_atomic(path, "old, and longer than the new text\n", false);
  write_text_atomic(path, "new\n", true);
  EXPECT_EQ(slurp(path), "new\n");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"out.json"}));
  write_text_atomic(dir.file("fresh.json"), "", true);  // force on a new file is fine, empty text too
  EXPECT_EQ(slurp(dir.file("fresh.json")), "");
}

TEST(WriteTextAtomic, RefusesADirectory) {
  TempDir dir;
  fs::create_directories(dir.path / "folder");
  const std::string msg = input_error([&] { write_text_atomic(dir.file("folder"), "x", true); });
  EXPECT_THAT(msg, HasSubstr("is a directory"));
}

TEST(WriteTextAtomic, UnwritableFolderIsARuntimeError) {
  // Tests run as root, so a chmod'ed folder would still be writable; use places no one can write.
  TempDir dir;
  write_plain(dir.file("plain"), "a file, not a folder");
  // Parent is a regular file: the folder can't be created.
  EXPECT_THROW(write_text_atomic(dir.file("plain/out.json"), "x", false), RuntimeError);
  EXPECT_THROW(write_text_atomic(dir.file("plain/sub/out.json"), "x", true), RuntimeError);
  EXPECT_EQ(slurp(dir.file("plain")), "a file, not a folder");
  // /proc takes no new files, not even from root.
  try {
    write_text_atomic("/proc/mlpbench_results_test.json", "x", false);
    ADD_FAILURE() << "writing under /proc succeeded";
  } catch (const RuntimeError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("/proc"));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected RuntimeError, got: " << e.what();
  }
  EXPECT_FALSE(fs::exists("/proc/mlpbench_results_test.json"));
}

TEST(ReadTextFile, NamesWhatItReadsInErrors) {
  TempDir dir;
  write_plain(dir.file("a.json"), "{}");
  EXPECT_EQ(read_text_file(dir.file("a.json"), "results file"), "{}");
  EXPECT_THAT(input_error([&] { read_text_file(dir.file("none.json"), "results file"); }), HasSubstr("cannot open results file"));
  EXPECT_THAT(input_error([&] { read_text_file(dir.path.string(), "results file"); }), HasSubstr("is a directory"));
}

TEST(CheckWritable, RefusesAnExistingFileWithoutForceAndMakesTheFolder) {
  TempDir dir;
  write_plain(dir.file("there.json"), "x");
  EXPECT_THAT(input_error([&] { check_writable(dir.file("there.json"), false); }), HasSubstr("pass --force"));
  check_writable(dir.file("there.json"), true);
  check_writable(dir.file("new/out.json"), false);
  EXPECT_TRUE(fs::is_directory(dir.path / "new"));
  EXPECT_TRUE(fs::is_empty(dir.path / "new")) << "the probe file is gone";
}

// "-" is standard output: the check passes (even where a file named "-" exists), the bytes go to stdout, no file is made.
TEST(StandardOutput, DashWritesToStandardOutputAndMakesNoFile) {
  TempDir dir;
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path);
  EXPECT_TRUE(is_stdout("-"));
  EXPECT_FALSE(is_stdout("-.json"));
  EXPECT_EQ(output_name("-"), "standard output");
  EXPECT_EQ(output_name("r.json"), "r.json");
  check_writable("-", false);
  write_plain("-", "a file named -");
  check_writable("-", false);  // that file is not the output
  // Standard output redirected into a file for the write.
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  std::FILE* capture = std::fopen("captured", "w");
  ASSERT_NE(capture, nullptr);
  ::dup2(::fileno(capture), STDOUT_FILENO);
  write_text_atomic("-", "{\"to\": \"stdout\"}\n", false);
  std::fflush(stdout);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  std::fclose(capture);
  fs::current_path(cwd);
  EXPECT_EQ(slurp(dir.file("captured")), "{\"to\": \"stdout\"}\n");
  EXPECT_EQ(slurp(dir.file("-")), "a file named -");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"-", "captured"}));
}

// A name reserved before the work: two reservations of one name get two files (-2 before the extension), each
// created empty; one written keeps its text, one never written (a failed run) is removed, its name free again.
TEST(ReservedOutput, TwoReservationsOfOneNameGetTwoFilesAndAnUnwrittenOneIsRemoved) {
  TempDir dir;
  const std::string name = dir.file("host/20261118T000000Z-abc.json");
  {
    ReservedOutput a(name), b(name), c(name);
    EXPECT_EQ(a.path(), name);
    EXPECT_EQ(b.path(), dir.file("host/20261118T000000Z-abc-2.json"));
    EXPECT_EQ(c.path(), dir.file("host/20261118T000000Z-abc-3.json"));
    EXPECT_TRUE(fs::exists(b.path()));
    EXPECT_EQ(slurp(b.path()), "") << "reserved: empty";
    a.write("{\"a\": 1}\n");
    c.write("{\"c\": 3}\n");
  }
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path / "host")) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"20261118T000000Z-abc-3.json", "20261118T000000Z-abc.json"})) << "no temporary left either";
  EXPECT_EQ(slurp(name), "{\"a\": 1}\n");
  const ReservedOutput again(name);
  EXPECT_EQ(again.path(), dir.file("host/20261118T000000Z-abc-2.json")) << "the unwritten one's name is free again";
}

TEST(ReservedOutput, AFolderThatTakesNoFileIsARuntimeError) {
  TempDir dir;
  write_plain(dir.file("plain"), "a file, not a folder");
  EXPECT_THROW(ReservedOutput(dir.file("plain/out.json")), RuntimeError);
  EXPECT_THROW(ReservedOutput("/proc/mlpbench_reserved_test.json"), RuntimeError);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"plain"}));
}
