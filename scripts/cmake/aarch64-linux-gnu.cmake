# Cross build of iptables-trace for Debian arm64 (aarch64) on a Debian
# x86-64 host, with Debian's cross compiler and the :arm64 multiarch -dev
# packages (scripts/deps.sh --arm64 installs both):
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=scripts/cmake/aarch64-linux-gnu.cmake
#   cmake --build build-arm64
#
# scripts/cross-arm64.sh does that and runs the results under qemu-user.
# No sysroot: multiarch puts the arm64 libraries in /usr/lib/aarch64-linux-gnu
# beside the host's, and the headers they share in /usr/include. The tools
# that run at build time (clang -target bpf, bpftool, objcopy of the module
# build, which is skipped for this target) are the host's.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# find_library / find_package search <prefix>/lib/aarch64-linux-gnu and
# never the host's x86_64-linux-gnu directories.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# pkg-config must describe the arm64 libraries: only their .pc files (and
# the architecture-independent ones) are visible. The toolchain file is read
# at every configure, so this holds for re-runs too.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Build-time runs of target binaries (gtest_discover_tests lists the unit
# tests after linking them) and ctest go through qemu-user.
find_program(ITR_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(ITR_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${ITR_QEMU_AARCH64})
endif()
