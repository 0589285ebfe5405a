# kabar_headers(<target> <path>...)
# Makes the headers under each <path> (a folder or a file, relative to the source root) includable as
# "<path>/x.h" by <target> and by what links it, and by nothing else.
#
# No library puts the source root on an include path: each gets a root of its own,
# build/include/<target>/, holding a symbolic link to its folder. So a file sees exactly the headers of
# its own library and of the libraries it links, and the build keeps the house's rules
# (docs/architecture.md "The house"): a door that includes another door's header, or a folder that
# reaches back against the flow (http including pusher, pusher including app), fails to compile with
# "No such file or directory". Tests, fuzz targets and benchmarks may see everything: they add the
# source root themselves.
function(kabar_headers target)
  set(root ${CMAKE_BINARY_DIR}/include/${target})
  foreach(path IN LISTS ARGN)
    get_filename_component(parent ${root}/${path} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${path} ${root}/${path} SYMBOLIC)
  endforeach()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${root})
  else()
    target_include_directories(${target} PUBLIC ${root})
  endif()
endfunction()
