// seqctl: the control client. All of it lives in daemon/seqctl_cli.cpp.
#include "daemon/seqctl_cli.hpp"

int main(int argc, char** argv) { return seqd::runSeqctl(argc, argv); }
