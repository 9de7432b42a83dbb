// Replays fuzz inputs without libFuzzer: runs LLVMFuzzerTestOneInput once on
// every file named on the command line and every file under a directory
// named there. Fails when an argument does not exist or no input ran.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

bool collectInputs(const std::filesystem::path &argument,
                   std::vector<std::filesystem::path> &inputs)
{
    std::error_code error;
    if (std::filesystem::is_directory(argument, error)) {
        for (const auto &entry : std::filesystem::recursive_directory_iterator(argument, error)) {
            if (entry.is_regular_file()) {
                inputs.push_back(entry.path());
            }
        }
        return !error;
    }
    if (std::filesystem::is_regular_file(argument, error)) {
        inputs.push_back(argument);
        return true;
    }
    return false;
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<std::filesystem::path> inputs;
    for (int index = 1; index < argc; ++index) {
        if (!collectInputs(argv[index], inputs)) {
            std::fprintf(stderr, "replay: %s is not a readable file or directory\n", argv[index]);
            return 2;
        }
    }
    std::sort(inputs.begin(), inputs.end());

    for (const std::filesystem::path &input : inputs) {
        std::ifstream file(input, std::ios::binary);
        const std::vector<char> bytes { std::istreambuf_iterator<char>(file),
                                        std::istreambuf_iterator<char>() };
        if (!file.good() && !file.eof()) {
            std::fprintf(stderr, "replay: cannot read %s\n", input.c_str());
            return 2;
        }
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
    }

    std::printf("replay: ran %zu inputs\n", inputs.size());
    if (inputs.empty()) {
        std::fprintf(stderr, "replay: no input files given\n");
        return 1;
    }
    return 0;
}
