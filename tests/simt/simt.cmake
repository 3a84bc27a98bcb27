# SIMT build (-DMMBOOST_CUDA=SIMT): CUDA sources compiled as C++ against tests/simt.
#
# simt_translate(OUT_VAR src.cu ...) rewrites each source's <<<>>> launches
# (tests/simt/translate.pl) into ${CMAKE_BINARY_DIR}/simt/<path relative to the source
# tree>.cpp, and sets OUT_VAR to the list of translated files.
function(simt_translate out_var)
  set(simt_dir ${CMAKE_SOURCE_DIR}/tests/simt)
  set(outs)
  foreach(cu ${ARGN})
    file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${cu})
    set(out ${CMAKE_BINARY_DIR}/simt/${rel}.cpp)
    get_filename_component(out_dir ${out} DIRECTORY)
    file(MAKE_DIRECTORY ${out_dir})
    add_custom_command(OUTPUT ${out}
      COMMAND ${PERL_EXECUTABLE} ${simt_dir}/translate.pl ${cu} ${out}
      DEPENDS ${cu} ${simt_dir}/translate.pl
      COMMENT "SIMT: ${rel}" VERBATIM)
    set_source_files_properties(${out} PROPERTIES COMPILE_OPTIONS "-Wno-unknown-pragmas")
    list(APPEND outs ${out})
  endforeach()
  set(${out_var} ${outs} PARENT_SCOPE)
endfunction()
