# One INTERFACE target carries the compile policy of every sealrelay target:
# the language standard, warnings, Qt strictness defines, and the optional
# sanitizer and hardening flags.
include(CheckCXXCompilerFlag)

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)

add_library(sealrelay_compile_options INTERFACE)

target_compile_features(sealrelay_compile_options INTERFACE cxx_std_20)

target_compile_options(sealrelay_compile_options INTERFACE -Wall -Wextra -Wpedantic)
if(SEALRELAY_WERROR)
    target_compile_options(sealrelay_compile_options INTERFACE -Werror)
endif()

target_compile_definitions(sealrelay_compile_options INTERFACE
    QT_NO_CAST_FROM_ASCII
    QT_NO_CAST_TO_ASCII
    QT_NO_CAST_FROM_BYTEARRAY
    QT_NO_URL_CAST_FROM_STRING
    QT_NO_NARROWING_CONVERSIONS_IN_CONNECT
    QT_NO_FOREACH
    QT_NO_KEYWORDS
    QT_DISABLE_DEPRECATED_BEFORE=0x060400
    QT_USE_QSTRINGBUILDER)

if(SEALRELAY_SANITIZE)
    target_compile_options(sealrelay_compile_options INTERFACE
        -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(sealrelay_compile_options INTERFACE -fsanitize=address,undefined)
endif()

# libFuzzer builds (clang only): coverage instrumentation and the sanitizers
# on every target; the fuzz executables add -fsanitize=fuzzer when linking.
if(SEALRELAY_FUZZ)
    target_compile_options(sealrelay_compile_options INTERFACE
        -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
        -fno-sanitize-recover=undefined)
    target_link_options(sealrelay_compile_options INTERFACE -fsanitize=address,undefined)
endif()

# Hardening flags are probed first, so a compiler without one still builds.
if(SEALRELAY_HARDENING AND NOT SEALRELAY_SANITIZE AND NOT SEALRELAY_FUZZ)
    foreach(flag -fstack-protector-strong -fstack-clash-protection -fcf-protection)
        string(MAKE_C_IDENTIFIER "HAVE${flag}" flag_var)
        check_cxx_compiler_flag(${flag} ${flag_var})
        if(${flag_var})
            target_compile_options(sealrelay_compile_options INTERFACE ${flag})
        endif()
    endforeach()
    target_compile_definitions(sealrelay_compile_options INTERFACE
        $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
    target_link_options(sealrelay_compile_options INTERFACE -Wl,-z,relro,-z,now)
endif()
