#include <CLI/CLI.hpp>

#include "cli.h"

int main(int argc, char** argv) { return portcullis::runCli(argc, argv); }
