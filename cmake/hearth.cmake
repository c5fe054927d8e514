# Helpers shared by every module's CMakeLists.txt.

# Warnings for our own code only (third-party headers are included as SYSTEM).
set(HEARTH_WARNINGS -Wall -Wextra -Wpedantic -Werror)

# hearth_module(NAME SOURCES ... [DEPS ...])
# One library per module: target hearth_NAME, alias hearth::NAME, public headers
# in NAME/include/hearth/NAME/, sources in NAME/src/.
function(hearth_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(hearth_${name} STATIC ${ARG_SOURCES})
  add_library(hearth::${name} ALIAS hearth_${name})
  target_include_directories(hearth_${name}
    PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_options(hearth_${name} PRIVATE ${HEARTH_WARNINGS})
  target_link_libraries(hearth_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# hearth_executable(NAME SOURCES ... [DEPS ...]): our warnings, output in build/bin.
function(hearth_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${HEARTH_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()
