# Toolchain for the libFuzzer build of tests/fuzz: Debian 12's clang 16 with libstdc++ 12.
# libstdc++ 12 declares std::expected (and the constexpr std::variant) only when
# __cpp_concepts >= 202002L. Clang 16 implements what those headers use (constrained
# destructors, P0848) but still reports 201907L, so the macro is raised here; the tree's other
# compiler, GCC 12, reports 202002L itself. -std=c++2b comes from CMAKE_CXX_STANDARD 23.
set(CMAKE_C_COMPILER clang-16)
set(CMAKE_CXX_COMPILER clang++-16)
set(CMAKE_CXX_FLAGS_INIT "-D__cpp_concepts=202002L -Wno-macro-redefined -Wno-unknown-warning-option")
