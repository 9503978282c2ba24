#include <CLI/CLI.hpp>

#include "app/cli.h"

int main(int argc, char** argv) { return portcullis::runCli(argc, argv); }
